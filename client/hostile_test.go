package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// payload is the JSON of c, as the Signer would write it, for forged tokens.
func payload(t testing.TB, c *token.Claims) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience, "client_id": c.ClientID,
		"jti": c.ID, "sid": c.SessionID, "acr": c.ACR, "amr": c.AMR,
		"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "exp": c.Expiry.Unix(),
		"auth_time": c.AuthTime.Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// outsider signs with a key stepup never published, under a kid of its choosing.
func outsider(t testing.TB, kid string, c *token.Claims) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := token.NewSigner(&token.PrivateKey{ID: kid, Alg: token.AlgEdDSA, Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestHostileTokens(t *testing.T) {
	h := newHarness(t)
	good := h.fake.NewClaims("u_ann", token.ACR2)
	kid := h.fake.KeyID()
	body := payload(t, good)

	expired := h.fake.NewClaims("u_ann", token.ACR2)
	hourAgo := good.IssuedAt.Add(-time.Hour)
	expired.IssuedAt, expired.NotBefore, expired.AuthTime = hourAgo, hourAgo, hourAgo
	expired.Expiry = good.IssuedAt.Add(-DefaultLeeway - time.Second)
	wrongAud := h.fake.NewClaims("u_ann", token.ACR2)
	wrongAud.Audience = []string{"billing"}
	wrongIss := h.fake.NewClaims("u_ann", token.ACR2)
	wrongIss.Issuer = "https://evil.test"
	future := h.fake.NewClaims("u_ann", token.ACR2)
	future.IssuedAt, future.NotBefore = good.IssuedAt.Add(time.Hour), good.IssuedAt.Add(time.Hour)
	future.AuthTime, future.Expiry = future.IssuedAt, future.IssuedAt.Add(time.Hour)

	valid := h.fake.Sign(good)
	sig := valid[strings.LastIndexByte(valid, '.')+1:]
	bearer := func(tok string) metadata.MD { return metadata.Pairs("authorization", "Bearer "+tok) }
	// forged puts header over the genuine payload and signature.
	forged := func(header, sig string) metadata.MD { return bearer(b64(header) + "." + b64(body) + "." + sig) }
	hdr := func(alg string) string { return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}` }
	jku := `{"alg":"EdDSA","jku":"https://evil.test/jwks","kid":"` + kid + `","typ":"at+jwt"}`
	swapped := valid[:strings.IndexByte(valid, '.')] + "." + b64(payload(t, wrongIss)) + "." + sig
	cases := []struct {
		name string
		md   metadata.MD
	}{
		{"no metadata", metadata.MD{}},
		{"alg none", forged(hdr("none"), "")},
		{"alg none with a signature", forged(hdr("none"), sig)},
		{"alg noNE", forged(hdr("noNE"), sig)},
		{"HS256", forged(hdr("HS256"), sig)},
		{"jku header", forged(jku, sig)},
		{"payload swapped under a valid signature", bearer(swapped)},
		{"unknown kid", bearer(outsider(t, "no-such-kid", good))},
		{"stepup's kid, outsider's key", bearer(outsider(t, kid, good))},
		{"kid path traversal", bearer(outsider(t, "../../dev/null", good))},
		{"expired", bearer(h.fake.Sign(expired))},
		{"not yet valid", bearer(h.fake.Sign(future))},
		{"wrong audience", bearer(h.fake.Sign(wrongAud))},
		{"wrong issuer", bearer(h.fake.Sign(wrongIss))},
		{"two authorization values", metadata.Join(bearer(valid), bearer(valid))},
		{"basic scheme", metadata.Pairs("authorization", "Basic "+valid)},
		{"empty bearer", metadata.Pairs("authorization", "Bearer ")},
		{"garbage", bearer("not-a-token")},
		{"10 KiB", bearer(strings.Repeat("A", 10<<10) + ".A.A")},
		{"many dots", bearer(strings.Repeat(".", 1<<12))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.callMD(fakestepup.DemoRead, tc.md)
			wantCode(t, err, codes.Unauthenticated)
		})
	}
	if _, err := h.call(fakestepup.DemoRead, valid); err != nil {
		t.Fatalf("the untampered token: %v", err)
	}
	if h.fake.Calls("GetJwks") > 1 {
		t.Fatalf("GetJwks called %d times; unknown kids may cause one fetch per cooldown",
			h.fake.Calls("GetJwks"))
	}
}

// The log is for operators and may be shipped anywhere: no token, valid or not, and no
// signature may appear in it.
func TestLogsNeverContainTokens(t *testing.T) {
	h := newHarness(t)
	valid := h.fake.Token("u_ann", token.ACR1)
	unknown := outsider(t, "unknown", h.fake.NewClaims("u_bob", token.ACR1))
	h.fake.Push(fakestepup.EndedSession("sid-u_bob", fakestepup.T0.Add(time.Hour)))
	revoked := h.fake.Token("u_bob", token.ACR1)
	for _, tok := range []string{valid, unknown, revoked, "junk.junk.junk"} {
		for _, m := range []string{fakestepup.DemoRead, fakestepup.DemoTransfer} {
			_, _ = h.call(m, tok)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "rejected access token") {
		t.Fatalf("expected rejections in the log:\n%s", logs)
	}
	for _, tok := range []string{valid, unknown, revoked} {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(logs, part) {
				t.Fatalf("log contains part of a token:\n%s", logs)
			}
		}
	}
}
