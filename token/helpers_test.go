package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Unix(1_700_000_000, 0).UTC()

const (
	testIssuer   = "https://auth.stepup.test"
	testAudience = "billing"
)

// fixture is a pair of signing keys, a key set with their public halves, and a
// verifier whose clock the test sets.
type fixture struct {
	ed, ec *PrivateKey
	set    *KeySet
	now    time.Time
	v      *Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{ed: mustGenerate(t, AlgEdDSA), ec: mustGenerate(t, AlgES256), now: t0}
	set, err := NewKeySet(f.ed.PublicKey(), f.ec.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	f.set = set
	f.v, err = NewVerifier(VerifierConfig{
		Issuer: testIssuer, Audience: testAudience,
		Now:  func() time.Time { return f.now },
		Keys: func() *KeySet { return f.set },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustGenerate(t testing.TB, alg string) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func baseClaims() *Claims {
	return &Claims{
		Issuer: testIssuer, Subject: "user-1", ClientID: "cli", ID: "jti-1",
		SessionID: "sid-1", ACR: ACR2,
		Audience: []string{testAudience}, AMR: []string{AMRPassword, AMROTP, AMRMFA},
		IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(5 * time.Minute),
		AuthTime: t0.Add(-time.Minute),
	}
}

// basePayload is baseClaims as a JSON object that tests can corrupt.
func basePayload() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "client_id": "cli", "jti": "jti-1",
		"sid": "sid-1", "acr": ACR2, "aud": testAudience,
		"amr": []string{AMRPassword, AMROTP, AMRMFA},
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(),
		"auth_time": t0.Add(-time.Minute).Unix(),
	}
}

func mustSign(t testing.TB, k *PrivateKey, c *Claims) string {
	t.Helper()
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// forge signs arbitrary header and payload JSON text with k, bypassing go-jose and
// Signer, so tests can build tokens no honest signer would.
func forge(t testing.TB, k *PrivateKey, header, payload string) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(rawSign(t, k, input))
}

func rawSign(t testing.TB, k *PrivateKey, input string) []byte {
	t.Helper()
	switch priv := k.Signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, []byte(input))
	case *ecdsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	t.Fatalf("unsupported signer %T", k.Signer)
	return nil
}

// header returns the JSON of a protected header with the given alg, kid and typ.
func header(alg, kid, typ string) string {
	return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + typ + `"}`
}
