package token

import (
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, k := range []*PrivateKey{f.ed, f.ec} {
		t.Run(k.Alg, func(t *testing.T) {
			want := baseClaims()
			got, err := f.v.Verify(mustSign(t, k, want))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims differ:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSignTruncatesToSeconds(t *testing.T) {
	f := newFixture(t)
	c := baseClaims()
	c.IssuedAt = c.IssuedAt.Add(900 * time.Millisecond)
	got, err := f.v.Verify(mustSign(t, f.ed, c))
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(t0) {
		t.Errorf("iat = %v, want %v", got.IssuedAt, t0)
	}
}

func TestSignHeaderIsMinimal(t *testing.T) {
	f := newFixture(t)
	raw := mustSign(t, f.ec, baseClaims())
	hdr, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		t.Fatal(err)
	}
	if want := header(AlgES256, f.ec.ID, Type); string(hdr) != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}
}

// verifyCase is one token and the sentinel Verify must return for it.
type verifyCase struct {
	name string
	tok  func(t *testing.T, f *fixture) string
	now  time.Time // zero means t0
	want error     // nil means the token is accepted
}

func TestVerifyHostile(t *testing.T) {
	var cases []verifyCase
	cases = append(cases, algCases()...)
	cases = append(cases, kidCases()...)
	cases = append(cases, headerCases()...)
	cases = append(cases, typCases()...)
	cases = append(cases, claimCases()...)
	cases = append(cases, timeCases()...)
	cases = append(cases, shapeCases()...)
	cases = append(cases, signatureCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			raw := tc.tok(t, f)
			if !tc.now.IsZero() {
				f.now = tc.now
			}
			c, err := f.v.Verify(raw)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (c != nil) {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
			if err != nil {
				assertNoEcho(t, err, raw)
			}
		})
	}
}

// assertNoEcho fails if err quotes any part of the token.
func assertNoEcho(t *testing.T, err error, raw string) {
	t.Helper()
	for _, seg := range strings.Split(raw, ".") {
		if len(seg) >= 8 && strings.Contains(err.Error(), seg[:8]) {
			t.Errorf("error %q quotes the token", err)
		}
	}
}

func signed(k func(*fixture) *PrivateKey, edit func(*Claims)) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		c := baseClaims()
		if edit != nil {
			edit(c)
		}
		return mustSign(t, k(f), c)
	}
}

func edKey(f *fixture) *PrivateKey { return f.ed }
func ecKey(f *fixture) *PrivateKey { return f.ec }

// withHeader forges a token with the fixture's Ed25519 key and the given header.
func withHeader(hdr func(f *fixture) string) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		return forge(t, f.ed, hdr(f), mustJSON(t, basePayload()))
	}
}

// withPayload forges a token with a correct header and an edited payload.
func withPayload(edit func(p map[string]any)) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		p := basePayload()
		edit(p)
		return forge(t, f.ed, header(AlgEdDSA, f.ed.ID, Type), mustJSON(t, p))
	}
}

// withRawPayload forges a token with a correct header and payload JSON text built
// from the fixture's claims.
func withRawPayload(payload string) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		return forge(t, f.ed, header(AlgEdDSA, f.ed.ID, Type), payload)
	}
}

func algCases() []verifyCase {
	var cases []verifyCase
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		cases = append(cases, verifyCase{
			name: "alg " + alg,
			tok: func(t *testing.T, f *fixture) string {
				// A real signature is kept so the token survives Prefilter and
				// reaches the algorithm allowlist.
				real := mustSign(t, f.ed, baseClaims())
				sig := real[strings.LastIndexByte(real, '.'):]
				return b64(header(alg, f.ed.ID, Type)) + "." + b64(mustJSON(t, basePayload())) + sig
			},
			want: ErrMalformed,
		}, verifyCase{
			name: "alg " + alg + " empty signature",
			tok: func(t *testing.T, f *fixture) string {
				return b64(header(alg, f.ed.ID, Type)) + "." + b64(mustJSON(t, basePayload())) + "."
			},
			want: ErrMalformed,
		})
	}
	for name, secret := range hmacSecrets() {
		cases = append(cases, verifyCase{
			name: "HS256 keyed with " + name,
			tok: func(t *testing.T, f *fixture) string {
				return hmacToken(t, f, secret(t, f))
			},
			want: ErrMalformed,
		})
	}
	cases = append(cases,
		verifyCase{"EdDSA key, ES256 header, attacker's P-256 signature", func(t *testing.T, f *fixture) string {
			evil := mustGenerate(t, AlgES256)
			return forge(t, evil, header(AlgES256, f.ed.ID, Type), mustJSON(t, basePayload()))
		}, time.Time{}, ErrBadSignature},
		verifyCase{"ES256 key, EdDSA header, signed by the Ed25519 key", func(t *testing.T, f *fixture) string {
			return forge(t, f.ed, header(AlgEdDSA, f.ec.ID, Type), mustJSON(t, basePayload()))
		}, time.Time{}, ErrBadSignature},
		verifyCase{"RS256", func(t *testing.T, f *fixture) string {
			return forge(t, f.ed, header("RS256", f.ed.ID, Type), mustJSON(t, basePayload()))
		}, time.Time{}, ErrMalformed},
		verifyCase{"ES512", func(t *testing.T, f *fixture) string {
			return forge(t, f.ec, header("ES512", f.ec.ID, Type), mustJSON(t, basePayload()))
		}, time.Time{}, ErrMalformed},
		verifyCase{"alg missing", withHeader(func(f *fixture) string {
			return `{"kid":"` + f.ed.ID + `","typ":"at+jwt"}`
		}), time.Time{}, ErrMalformed},
	)
	return cases
}

// hmacSecrets are the encodings of the public key an attacker might try as an
// HMAC secret (RFC 8725 §2.1).
func hmacSecrets() map[string]func(*testing.T, *fixture) []byte {
	return map[string]func(*testing.T, *fixture) []byte{
		"raw public key": func(_ *testing.T, f *fixture) []byte {
			return f.ed.Signer.Public().(ed25519.PublicKey)
		},
		"DER public key": func(t *testing.T, f *fixture) []byte {
			der, err := x509.MarshalPKIXPublicKey(f.ec.Signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			return der
		},
		"PEM public key": func(t *testing.T, f *fixture) []byte {
			der, err := x509.MarshalPKIXPublicKey(f.ed.Signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		},
		"JWKS": func(t *testing.T, f *fixture) []byte {
			b, err := f.set.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
}

func hmacToken(t *testing.T, f *fixture, secret []byte) string {
	opts := (&jose.SignerOptions{}).WithType(Type).WithHeader("kid", f.ed.ID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(mustJSON(t, basePayload())))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func kidCases() []verifyCase {
	kid := func(k string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string {
			hdr := mustJSON(t, map[string]string{"alg": AlgEdDSA, "kid": k, "typ": Type})
			return forge(t, f.ed, hdr, mustJSON(t, basePayload()))
		}
	}
	return []verifyCase{
		{"kid unknown", kid("nope"), time.Time{}, ErrUnknownKey},
		{"kid empty", kid(""), time.Time{}, ErrUnknownKey},
		{"kid missing", withHeader(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt"}`
		}), time.Time{}, ErrUnknownKey},
		{"kid 6 KB", kid(strings.Repeat("k", 6<<10)), time.Time{}, ErrMalformed},
		{"kid 300 B", kid(strings.Repeat("k", 300)), time.Time{}, ErrUnknownKey},
		{"kid path", kid("../../dev/null"), time.Time{}, ErrUnknownKey},
		{"kid SQL", kid("' OR 1=1--"), time.Time{}, ErrUnknownKey},
		{"kid NUL", kid("\x00"), time.Time{}, ErrMalformed},
		{"kid needing escapes", kid(`a"b<c>&\\`), time.Time{}, ErrMalformed},
		{"kid non-ASCII", kid("clé"), time.Time{}, ErrMalformed},
		{"kid is a number", withHeader(func(*fixture) string {
			return `{"alg":"EdDSA","kid":7,"typ":"at+jwt"}`
		}), time.Time{}, ErrMalformed},
		{"key rotated out", func(t *testing.T, f *fixture) string {
			return mustSign(t, mustGenerate(t, AlgEdDSA), baseClaims())
		}, time.Time{}, ErrUnknownKey},
		{"nil key set", func(t *testing.T, f *fixture) string {
			raw := mustSign(t, f.ed, baseClaims())
			f.set = nil
			return raw
		}, time.Time{}, ErrUnknownKey},
	}
}

// goJoseHeader signs the base payload with the fixture's real Ed25519 key through
// go-jose, adding what opts asks for: a valid signature, so only the header check
// can reject it.
func goJoseHeader(opts func(f *fixture, o *jose.SignerOptions)) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		o := (&jose.SignerOptions{}).WithType(Type).WithHeader("kid", f.ed.ID)
		opts(f, o)
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: f.ed.Signer}, o)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign([]byte(mustJSON(t, basePayload())))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
}

func headerCases() []verifyCase {
	nullHeader := func(name string) verifyCase {
		return verifyCase{name + " null", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `","typ":"at+jwt","` + name + `":null}`
		}), time.Time{}, ErrMalformed}
	}
	return []verifyCase{
		{"jku", goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
			o.WithHeader("jku", "https://evil.test/jwks.json")
		}), time.Time{}, ErrMalformed},
		{"x5u", goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
			o.WithHeader("x5u", "https://evil.test/cert.pem")
		}), time.Time{}, ErrMalformed},
		{"jwk embedded", goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
			o.EmbedJWK = true
		}), time.Time{}, ErrMalformed},
		{"x5c", func(t *testing.T, f *fixture) string {
			der := selfSignedCert(t, f.ed.Signer.(ed25519.PrivateKey))
			return goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
				o.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(der)})
			})(t, f)
		}, time.Time{}, ErrMalformed},
		{"crit", goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
			o.WithHeader("foo", "bar").WithCritical("foo")
		}), time.Time{}, ErrMalformed},
		{"crit b64", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `","typ":"at+jwt","b64":true,"crit":["b64"]}`
		}), time.Time{}, ErrMalformed},
		{"nonce", goJoseHeader(func(_ *fixture, o *jose.SignerOptions) {
			o.WithHeader("nonce", "n")
		}), time.Time{}, ErrMalformed},
		nullHeader("jku"), nullHeader("x5u"), nullHeader("jwk"), nullHeader("x5c"),
		nullHeader("crit"),
		{"duplicate alg", withHeader(func(f *fixture) string {
			return `{"alg":"none","alg":"EdDSA","kid":"` + f.ed.ID + `","typ":"at+jwt"}`
		}), time.Time{}, ErrMalformed},
		{"header is an array", withHeader(func(*fixture) string { return `["EdDSA"]` }),
			time.Time{}, ErrMalformed},
		{"header not JSON", withHeader(func(*fixture) string { return `alg=EdDSA` }),
			time.Time{}, ErrMalformed},
	}
}

func selfSignedCert(t *testing.T, priv ed25519.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func typCases() []verifyCase {
	typ := func(v string) func(*testing.T, *fixture) string {
		return withHeader(func(f *fixture) string { return header(AlgEdDSA, f.ed.ID, v) })
	}
	return []verifyCase{
		{"typ at+jwt", typ("at+jwt"), time.Time{}, nil},
		{"typ AT+JWT", typ("AT+JWT"), time.Time{}, nil},
		{"typ application/at+jwt", typ("application/at+jwt"), time.Time{}, nil},
		{"typ Application/AT+jwt", typ("Application/AT+jwt"), time.Time{}, nil},
		{"typ JWT", typ("JWT"), time.Time{}, ErrWrongType},
		{"typ empty", typ(""), time.Time{}, ErrWrongType},
		{"typ with space", typ("at+jwt "), time.Time{}, ErrWrongType},
		{"typ of an MFA-pending token", typ("mfa+jwt"), time.Time{}, ErrWrongType},
		{"typ missing", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `"}`
		}), time.Time{}, ErrWrongType},
		{"typ number", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `","typ":1}`
		}), time.Time{}, ErrMalformed},
		{"typ null", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `","typ":null}`
		}), time.Time{}, ErrMalformed},
		{"typ escaped", withHeader(func(f *fixture) string {
			return `{"alg":"EdDSA","kid":"` + f.ed.ID + `","typ":"at\u002bjwt"}`
		}), time.Time{}, ErrMalformed},
		{"header with whitespace", withHeader(func(f *fixture) string {
			return "\r\n { \"typ\" :\t\"at+jwt\" , \"kid\":\"" + f.ed.ID + "\",\"alg\":\"EdDSA\"}\n"
		}), time.Time{}, nil},
	}
}

var requiredClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "acr", "amr", "auth_time", "client_id",
}

func claimCases() []verifyCase {
	set := func(name string, v any) func(*testing.T, *fixture) string {
		return withPayload(func(p map[string]any) { p[name] = v })
	}
	var cases []verifyCase
	for _, name := range requiredClaims {
		cases = append(cases,
			verifyCase{"missing " + name, withPayload(func(p map[string]any) { delete(p, name) }),
				time.Time{}, ErrMalformed},
			verifyCase{"null " + name, set(name, nil), time.Time{}, ErrMalformed},
			verifyCase{"object " + name, set(name, map[string]int{"a": 1}), time.Time{}, ErrMalformed},
		)
	}
	for _, name := range []string{"iss", "sub", "aud", "jti", "sid", "acr", "client_id"} {
		cases = append(cases, verifyCase{"empty " + name, set(name, ""), time.Time{}, ErrMalformed},
			verifyCase{"number " + name, set(name, 5), time.Time{}, ErrMalformed})
	}
	exp := t0.Add(5 * time.Minute).Unix()
	return append(cases,
		verifyCase{"EXP instead of exp", withPayload(func(p map[string]any) {
			delete(p, "exp")
			p["EXP"] = exp
		}), time.Time{}, ErrMalformed},
		verifyCase{"exp string", set("exp", "1700000300"), time.Time{}, ErrMalformed},
		verifyCase{"exp 1e300", withRawExp("1e300"), time.Time{}, ErrMalformed},
		verifyCase{"exp 1.7e9", withRawExp("1.7000003e9"), time.Time{}, ErrMalformed},
		verifyCase{"exp 1700000300.0", withRawExp("1700000300.0"), time.Time{}, ErrMalformed},
		verifyCase{"exp fraction", set("exp", 1700000300.5), time.Time{}, ErrMalformed},
		verifyCase{"exp negative", set("exp", -1), time.Time{}, ErrMalformed},
		verifyCase{"exp after year 9999", set("exp", int64(253402300800)), time.Time{}, ErrMalformed},
		verifyCase{"exp bool", set("exp", true), time.Time{}, ErrMalformed},
		verifyCase{"aud array with ours", set("aud", []string{"other", testAudience}), time.Time{}, nil},
		verifyCase{"aud array without ours", set("aud", []string{"other"}), time.Time{}, ErrWrongAudience},
		verifyCase{"aud other", set("aud", "other"), time.Time{}, ErrWrongAudience},
		verifyCase{"aud differs in case", set("aud", "Billing"), time.Time{}, ErrWrongAudience},
		verifyCase{"aud empty array", set("aud", []string{}), time.Time{}, ErrMalformed},
		verifyCase{"aud array with empty", set("aud", []string{testAudience, ""}), time.Time{}, ErrMalformed},
		verifyCase{"aud array of numbers", set("aud", []int{1}), time.Time{}, ErrMalformed},
		verifyCase{"iss other", set("iss", "https://evil.test"), time.Time{}, ErrWrongIssuer},
		verifyCase{"iss trailing slash", set("iss", testIssuer+"/"), time.Time{}, ErrWrongIssuer},
		verifyCase{"amr string", set("amr", "pwd"), time.Time{}, ErrMalformed},
		verifyCase{"amr empty", set("amr", []string{}), time.Time{}, ErrMalformed},
		verifyCase{"amr with empty", set("amr", []string{"pwd", ""}), time.Time{}, ErrMalformed},
		verifyCase{"unknown claim ignored", set("scope", "x"), time.Time{}, nil},
		verifyCase{"auth_time after iat+leeway", set("auth_time", t0.Add(31*time.Second).Unix()),
			time.Time{}, ErrMalformed},
		verifyCase{"auth_time at iat+leeway", set("auth_time", t0.Add(30*time.Second).Unix()),
			time.Time{}, nil},
		verifyCase{"duplicate sub", withRawPayload(`{"sub":"admin",` + basePayloadText()[1:]),
			time.Time{}, ErrMalformed},
		verifyCase{"duplicate exp", withRawPayload(`{"exp":9999999999,` + basePayloadText()[1:]),
			time.Time{}, ErrMalformed},
		verifyCase{"payload array", withRawPayload(`[` + basePayloadText() + `]`), time.Time{}, ErrMalformed},
		verifyCase{"payload not JSON", withRawPayload(`sub=admin`), time.Time{}, ErrMalformed},
		verifyCase{"payload trailing data", withRawPayload(basePayloadText() + `{}`), time.Time{}, ErrMalformed},
	)
}

// withRawExp forges a token whose exp is the given JSON number text.
func withRawExp(exp string) func(*testing.T, *fixture) string {
	text := basePayloadText()
	return withRawPayload(strings.Replace(text, `"exp":1700000300`, `"exp":`+exp, 1))
}

// basePayloadText is basePayload as JSON text, with keys sorted by encoding/json.
func basePayloadText() string {
	b, err := json.Marshal(basePayload())
	if err != nil {
		panic(err)
	}
	return string(b)
}

func timeCases() []verifyCase {
	exp := t0.Add(5 * time.Minute)
	leeway := 30 * time.Second
	future := func(name string, d time.Duration) func(*testing.T, *fixture) string {
		return withPayload(func(p map[string]any) {
			p[name] = t0.Add(d).Unix()
			p["exp"] = t0.Add(time.Hour).Unix()
			if name == "iat" {
				p["nbf"] = t0.Unix()
			}
		})
	}
	ok := signed(edKey, nil)
	return []verifyCase{
		{"exp+leeway", ok, exp.Add(leeway), nil},
		{"exp+leeway+1s", ok, exp.Add(leeway + time.Second), ErrExpired},
		{"exp+leeway+1ns", ok, exp.Add(leeway + 1), ErrExpired},
		{"long expired", ok, exp.Add(24 * time.Hour), ErrExpired},
		{"nbf now+leeway", future("nbf", leeway), time.Time{}, nil},
		{"nbf now+leeway+1s", future("nbf", leeway+time.Second), time.Time{}, ErrNotYetValid},
		{"iat now+leeway", future("iat", leeway), time.Time{}, nil},
		{"iat now+leeway+1s", future("iat", leeway+time.Second), time.Time{}, ErrNotYetValid},
		{"clock behind by leeway", ok, t0.Add(-leeway), nil},
		{"clock behind by leeway+1s", ok, t0.Add(-leeway - time.Second), ErrNotYetValid},
	}
}

func shapeCases() []verifyCase {
	lit := func(s string) func(*testing.T, *fixture) string {
		return func(*testing.T, *fixture) string { return s }
	}
	valid := func(edit func(raw string) string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return edit(mustSign(t, f.ed, baseClaims())) }
	}
	return []verifyCase{
		{"empty", lit(""), time.Time{}, ErrMalformed},
		{"one segment", lit("abc"), time.Time{}, ErrMalformed},
		{"two segments", valid(func(r string) string { return r[:strings.LastIndexByte(r, '.')] }),
			time.Time{}, ErrMalformed},
		{"JWE five segments", lit("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), time.Time{}, ErrMalformed},
		{"JWE with empty key", lit("eyJhbGciOiJkaXIifQ..iv.ct.tag"), time.Time{}, ErrMalformed},
		{"JSON serialization", valid(func(r string) string {
			p := strings.Split(r, ".")
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`
		}), time.Time{}, ErrMalformed},
		{"empty header", valid(func(r string) string { return r[strings.IndexByte(r, '.'):] }),
			time.Time{}, ErrMalformed},
		{"empty payload", valid(func(r string) string {
			p := strings.Split(r, ".")
			return p[0] + ".." + p[2]
		}), time.Time{}, ErrMalformed},
		{"over MaxTokenSize", valid(func(r string) string {
			return r + strings.Repeat("A", MaxTokenSize)
		}), time.Time{}, ErrMalformed},
		{"1 MB of dots", lit(strings.Repeat(".", 1<<20)), time.Time{}, ErrMalformed},
		{"8 KB of dots", lit(strings.Repeat(".", MaxTokenSize)), time.Time{}, ErrMalformed},
		{"plus", valid(func(r string) string { return "+" + r[1:] }), time.Time{}, ErrMalformed},
		{"slash", valid(func(r string) string { return r[:5] + "/" + r[6:] }), time.Time{}, ErrMalformed},
		{"padding", valid(func(r string) string { return r + "==" }), time.Time{}, ErrMalformed},
		{"leading space", valid(func(r string) string { return " " + r }), time.Time{}, ErrMalformed},
		{"newline", valid(func(r string) string { return r[:10] + "\n" + r[10:] }), time.Time{}, ErrMalformed},
		{"NUL", valid(func(r string) string { return r + "\x00" }), time.Time{}, ErrMalformed},
		{"non-ASCII", valid(func(r string) string { return r[:3] + "é" + r[3:] }), time.Time{}, ErrMalformed},
		{"Bearer prefix left on", valid(func(r string) string { return "Bearer " + r }), time.Time{}, ErrMalformed},
		{"header not base64url", lit("e.e.AAAA"), time.Time{}, ErrMalformed},
	}
}

func signatureCases() []verifyCase {
	edit := func(k func(*fixture) *PrivateKey, f func(sig string) string) func(*testing.T, *fixture) string {
		return func(t *testing.T, fx *fixture) string {
			raw := mustSign(t, k(fx), baseClaims())
			dot := strings.LastIndexByte(raw, '.')
			return raw[:dot+1] + f(raw[dot+1:])
		}
	}
	var cases []verifyCase
	for _, k := range []struct {
		alg string
		key func(*fixture) *PrivateKey
	}{{AlgEdDSA, edKey}, {AlgES256, ecKey}} {
		cases = append(cases,
			verifyCase{k.alg + " signature zeroed", edit(k.key, func(s string) string {
				return strings.Repeat("A", len(s))
			}), time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " signature truncated", edit(k.key, func(s string) string {
				return s[:len(s)-4]
			}), time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " signature extended", edit(k.key, func(s string) string {
				return s + "AAAA"
			}), time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " signature bit flipped", edit(k.key, func(s string) string {
				return flipChar(s, 10)
			}), time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " signature with padding bits set", edit(k.key, func(s string) string {
				return s[:len(s)-1] + nonCanonicalLast(s[len(s)-1])
			}), time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " payload tampered", func(t *testing.T, f *fixture) string {
				raw := mustSign(t, k.key(f), baseClaims())
				p := strings.Split(raw, ".")
				q := basePayload()
				q["sub"] = "admin"
				return p[0] + "." + b64(mustJSON(t, q)) + "." + p[2]
			}, time.Time{}, ErrBadSignature},
			verifyCase{k.alg + " signed by a stranger with our kid", func(t *testing.T, f *fixture) string {
				evil := mustGenerate(t, k.alg)
				evil.ID = k.key(f).ID
				return mustSign(t, evil, baseClaims())
			}, time.Time{}, ErrBadSignature},
		)
	}
	return append(cases, verifyCase{"ES256 signature DER-encoded", func(t *testing.T, f *fixture) string {
		input := b64(header(AlgES256, f.ec.ID, Type)) + "." + b64(mustJSON(t, basePayload()))
		der, err := f.ec.Signer.Sign(rand.Reader, sha256Sum(input), nil)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(der)
	}, time.Time{}, ErrBadSignature},
		verifyCase{"ES256 signature with s replaced by n-s verifies", func(t *testing.T, f *fixture) string {
			// Documents ECDSA malleability: a different token string, same claims.
			raw := mustSign(t, f.ec, baseClaims())
			dot := strings.LastIndexByte(raw, '.')
			sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
			if err != nil {
				t.Fatal(err)
			}
			s := new(big.Int).SetBytes(sig[32:])
			s.Sub(elliptic.P256().Params().N, s).FillBytes(sig[32:])
			return raw[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
		}, time.Time{}, nil},
	)
}

func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// nonCanonicalLast returns another base64url character that decodes to the same
// bits as c when only its top two bits are used (86 characters carry 64 bytes).
func nonCanonicalLast(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)|1])
}

func TestVerifyRotation(t *testing.T) {
	f := newFixture(t)
	old := mustSign(t, f.ed, baseClaims())
	next := mustGenerate(t, AlgEdDSA)
	set, err := NewKeySet(next.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	f.set = set
	if _, err := f.v.Verify(old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old key after rotation: %v, want ErrUnknownKey", err)
	}
	if _, err := f.v.Verify(mustSign(t, next, baseClaims())); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
}

func TestVerifyRejectsJunkWithoutAllocating(t *testing.T) {
	f := newFixture(t)
	for _, raw := range []string{
		strings.Repeat(".", 1<<20), strings.Repeat("A", MaxTokenSize+1), "a.b.c{", "a..b", "",
	} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := f.v.Verify(raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
		})
		if allocs != 0 {
			t.Errorf("Verify(%.10q...) allocates %v times", raw, allocs)
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	keys := func() *KeySet { return nil }
	leeway := func(d time.Duration) VerifierConfig {
		return VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, Leeway: d}
	}
	cases := []struct {
		name string
		cfg  VerifierConfig
		ok   bool
	}{
		{"complete", VerifierConfig{Issuer: "i", Audience: "a", Keys: keys}, true},
		{"leeway 2m", leeway(2 * time.Minute), true},
		{"leeway over 2m", leeway(2*time.Minute + 1), false},
		{"leeway negative", leeway(-1), false},
		{"no issuer", VerifierConfig{Audience: "a", Keys: keys}, false},
		{"no audience", VerifierConfig{Issuer: "i", Keys: keys}, false},
		{"no keys", VerifierConfig{Issuer: "i", Audience: "a"}, false},
		{"nothing", VerifierConfig{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.cfg)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("NewVerifier = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestVerifyLeewayConfig(t *testing.T) {
	f := newFixture(t)
	raw := mustSign(t, f.ed, baseClaims())
	v, err := NewVerifier(VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Leeway: 2 * time.Minute,
		Now:  func() time.Time { return t0.Add(7 * time.Minute) },
		Keys: func() *KeySet { return f.set },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(raw); err != nil {
		t.Errorf("exp+2m with a 2m leeway: %v", err)
	}
}

func TestPrefilter(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"a.b.c", true},
		{"A-_9.b.c", true},
		{strings.Repeat("a", MaxTokenSize-4) + ".b.c", true},
		{strings.Repeat("a", MaxTokenSize-3) + ".b.c", false},
		{"", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{".b.c", false},
		{"a..c", false},
		{"a.b.", false},
		{"..", false},
		{"a.b.c=", false},
		{"a.b.c ", false},
		{"a.b.c\x00", false},
		{"a.b.c\xff", false},
		{"{\"a\":1}", false},
	}
	for _, tc := range cases {
		err := Prefilter(tc.in)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("Prefilter(%.20q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}
