package token

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/json"
	"google.golang.org/grpc/metadata"
)

// These fuzz targets hold the verifier's entry points to independent reference checks.
// Their seed corpora are in testdata/fuzz/<name>; .ci/run runs each for a few seconds.
// A longer run: go test ./token -run '^$' -fuzz '^FuzzVerifySigned$' -fuzztime 5m

// fuzzFixture is newFixture with a fixed Ed25519 key, so that the kid and the
// signatures in the committed seed corpora mean the same in every run.
func fuzzFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := newFixture(tb)
	k, err := GenerateKey(AlgEdDSA, bytes.NewReader(bytes.Repeat([]byte{0x5e}, 48)))
	if err != nil {
		tb.Fatal(err)
	}
	f.ed = k
	if f.set, err = NewKeySet(f.ed.PublicKey(), f.ec.PublicKey()); err != nil {
		tb.Fatal(err)
	}
	return f
}

// tokenShape is what Prefilter promises to let through, written the obvious way.
var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// FuzzPrefilter: Prefilter accepts exactly the strings of at most MaxTokenSize bytes
// that are three non-empty base64url segments joined by dots, and never panics.
func FuzzPrefilter(f *testing.F) {
	fx := fuzzFixture(f)
	for _, s := range []string{
		mustSign(f, fx.ed, baseClaims()), mustSign(f, fx.ec, baseClaims()),
		"a.b.c", "a..c", ".b.c", "a.b.", "a.b.c.d", "..", strings.Repeat(".", 64),
		"a+b.c/d.e=", "eyJ.eyJ.sig\n", "é.é.é", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := Prefilter(raw)
		want := len(raw) <= MaxTokenSize && tokenShape.MatchString(raw)
		if (err == nil) != want {
			t.Fatalf("Prefilter(%q) = %v, want accepted=%v", raw, err, want)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Prefilter error %v does not wrap ErrMalformed", err)
		}
	})
}

// sentinels are the errors Verify may wrap.
var sentinels = []error{
	ErrMalformed, ErrBadSignature, ErrUnknownKey, ErrExpired, ErrNotYetValid,
	ErrWrongIssuer, ErrWrongAudience, ErrWrongType,
}

// checkVerifyError fails unless err wraps exactly one of Verify's sentinels and quotes
// no part of raw.
func checkVerifyError(t *testing.T, err error, raw string) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
	}
	// No message has a run of 16 base64url characters, so a segment that long found
	// in one was copied from the token.
	for _, seg := range strings.Split(raw, ".") {
		if len(seg) >= 16 && strings.Contains(err.Error(), seg) {
			t.Fatalf("error %q quotes the token", err)
		}
	}
}

// FuzzVerify feeds arbitrary strings to Verify. Nothing may panic, every rejection
// wraps exactly one sentinel without quoting the input, and whatever is accepted must
// also pass the reference checks of acceptedByReference.
func FuzzVerify(f *testing.F) {
	fx := fuzzFixture(f)
	ed, ec := mustSign(f, fx.ed, baseClaims()), mustSign(f, fx.ec, baseClaims())
	f.Add(ed)
	f.Add(ec)
	f.Add(ed[:strings.LastIndexByte(ed, '.')+1])
	f.Add(forge(f, fx.ed, header("none", fx.ed.ID, Type), basePayloadText()))
	f.Add(forge(f, fx.ed, header(AlgEdDSA, fx.ed.ID, "JWT"), basePayloadText()))
	f.Add(forge(f, fx.ed, `{"alg":"EdDSA","kid":"`+fx.ed.ID+`","typ":"at+jwt","jku":"x"}`, basePayloadText()))
	f.Add(forge(f, fx.ed, header(AlgEdDSA, fx.ed.ID, Type), `{"sub":"a",`+basePayloadText()[1:]))
	f.Add("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ct.tag")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.v.Verify(raw)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify returned claims and error %v", err)
			}
			checkVerifyError(t, err, raw)
			return
		}
		parts := strings.Split(raw, ".")
		if reason := acceptedByReference(fx, parts[0], parts[1], c); reason != "" {
			t.Fatalf("Verify accepted %q, but %s", raw, reason)
		}
	})
}

// FuzzVerifySigned signs arbitrary header and payload bytes with the fixture's real
// key, so the fuzzer reaches the header scanner and the claim rules with a valid
// signature, which random strings never have. Whatever Verify accepts must pass the
// reference checks, which decode with go-jose's own JSON package.
func FuzzVerifySigned(f *testing.F) {
	fx := fuzzFixture(f)
	hdr := header(AlgEdDSA, fx.ed.ID, Type)
	f.Add([]byte(hdr), []byte(basePayloadText()))
	f.Add([]byte(`{"alg":"EdDSA","kid":"`+fx.ed.ID+`"}`), []byte(basePayloadText()))
	f.Add([]byte(header(AlgEdDSA, fx.ed.ID, "application/AT+JWT")), []byte(basePayloadText()))
	f.Add([]byte(hdr), []byte(strings.Replace(basePayloadText(), `"exp":1700000300`, `"exp":1e300`, 1)))
	f.Add([]byte(hdr), []byte(`{"exp":9999999999,`+basePayloadText()[1:]))
	f.Add([]byte(hdr), []byte(strings.Replace(basePayloadText(), `"aud":"billing"`, `"aud":["x","billing"]`, 1)))
	f.Add([]byte(hdr+" "), []byte(basePayloadText()+"\n"))
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		raw := forge(t, fx.ed, string(header), string(payload))
		c, err := fx.v.Verify(raw)
		if err != nil {
			checkVerifyError(t, err, raw)
			return
		}
		parts := strings.Split(raw, ".")
		if reason := acceptedByReference(fx, parts[0], parts[1], c); reason != "" {
			t.Fatalf("Verify accepted header %q payload %q, but %s", header, payload, reason)
		}
	})
}

// acceptedByReference re-checks an accepted token from scratch and returns what is
// wrong with it, or "". It decodes with go-jose's JSON package (case-sensitive, no
// duplicate names) and applies RFC 9068 and RFC 8725 the plain way.
func acceptedByReference(fx *fixture, headerSeg, payloadSeg string, c *Claims) string {
	hb, err := sigEncoding.DecodeString(headerSeg)
	if err != nil {
		return "the header is not base64url"
	}
	var h map[string]any
	if err := json.Unmarshal(hb, &h); err != nil {
		return "the header is not a JSON object: " + err.Error()
	}
	for name := range h {
		if name != "alg" && name != "kid" && name != "typ" {
			return "the header has member " + name
		}
	}
	kid, _ := h["kid"].(string)
	key, ok := fx.set.lookup(kid)
	if alg, _ := h["alg"].(string); !ok || alg != key.Alg {
		return "alg or kid do not name a key of the set"
	}
	if typ, _ := h["typ"].(string); !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return "typ is not at+jwt"
	}
	pb, err := sigEncoding.DecodeString(payloadSeg)
	if err != nil {
		return "the payload is not base64url"
	}
	var p map[string]any
	if err := json.Unmarshal(pb, &p); err != nil {
		return "the payload is not a JSON object: " + err.Error()
	}
	return referenceClaims(fx, p, c)
}

// referenceClaims checks the decoded payload p against the verifier's rules and
// against the claims Verify returned.
func referenceClaims(fx *fixture, p map[string]any, c *Claims) string {
	strs := map[string]string{"iss": c.Issuer, "sub": c.Subject, "client_id": c.ClientID,
		"jti": c.ID, "sid": c.SessionID, "acr": c.ACR}
	for name, got := range strs {
		if s, ok := p[name].(string); !ok || s == "" || s != got {
			return "claim " + name + " is not the non-empty string Verify returned"
		}
	}
	if c.Issuer != testIssuer {
		return "iss is not the expected issuer"
	}
	aud := stringList(p["aud"])
	if s, ok := p["aud"].(string); ok {
		aud = []string{s}
	}
	if !slices.Contains(aud, testAudience) || len(aud) != len(c.Audience) {
		return "aud does not hold the audience"
	}
	if len(stringList(p["amr"])) == 0 || len(stringList(p["amr"])) != len(c.AMR) {
		return "amr is not a non-empty string list"
	}
	dates := map[string]time.Time{"exp": c.Expiry, "iat": c.IssuedAt, "nbf": c.NotBefore, "auth_time": c.AuthTime}
	for name, got := range dates {
		n, ok := p[name].(float64)
		if !ok || n < 0 || n != math.Trunc(n) || n > maxNumericDate || int64(n) != got.Unix() {
			return "claim " + name + " is not the whole non-negative number Verify returned"
		}
	}
	leeway := fx.v.leeway
	switch {
	case fx.now.After(c.Expiry.Add(leeway)):
		return "it has expired"
	case c.NotBefore.After(fx.now.Add(leeway)), c.IssuedAt.After(fx.now.Add(leeway)):
		return "nbf or iat is in the future"
	case c.AuthTime.After(c.IssuedAt.Add(leeway)):
		return "auth_time is after iat"
	}
	return ""
}

// stringList returns v as a list of non-empty strings, or nil.
func stringList(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok || s == "" {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// FuzzBearerFromMD: the authorization metadata parser accepts exactly one value of the
// form "Bearer <token>" (scheme in any case, one space, a token not starting with a
// space), returns the token unchanged, and answers anything else with one of its fixed
// errors, which quote nothing.
func FuzzBearerFromMD(f *testing.F) {
	for _, s := range []string{"Bearer a.b.c", "bearer x", "BEARER  x", "Basic dXNlcjpwYXNz", "Bearer",
		"Bearer ", "Bearer\ta", "", "Bearerx y", "bEaReR \x00"} {
		f.Add(s, "", false, false)
	}
	f.Add("Bearer a.b.c", "Bearer a.b.c", true, false)
	f.Add("Bearer a.b.c", "Basic x", true, true)
	f.Fuzz(func(t *testing.T, first, second string, two, capitalKey bool) {
		key := "authorization"
		if capitalKey {
			key = "Authorization"
		}
		md := metadata.MD{}
		md.Append(key, first)
		if two {
			md.Append("authorization", second)
		}
		tok, err := BearerFromMD(md)
		if two {
			if err == nil {
				t.Fatalf("two authorization values accepted: %q", tok)
			}
		} else if want, ok := referenceBearer(first); ok != (err == nil) || tok != want {
			t.Fatalf("BearerFromMD(%q) = %q, %v; want %q, ok=%v", first, tok, err, want, ok)
		}
		if err == nil {
			return
		}
		// Only the fixed errors, so nothing of the value can be in them.
		if (err != errAuthCount && err != errAuthScheme && err != errAuthEmpty) || tok != "" {
			t.Fatalf("error %v with token %q", err, tok)
		}
	})
}

// referenceBearer is the rule BearerFromMD implements, for one value.
func referenceBearer(v string) (string, bool) {
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || rest == "" || rest[0] == ' ' {
		return "", false
	}
	return rest, true
}
