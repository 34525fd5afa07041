package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// The hostile-token table is shared by two suites: TestHostileTokensValidateToken sends
// each token to stepup's ValidateToken, and TestHostileTokensInterceptor presents it as
// the bearer token of a call guarded by the client package's interceptor. One row is one
// attack, with the answer each checker must give.

// hostileCase is one token an attacker (or an unlucky client) might present.
type hostileCase struct {
	name string
	// token builds the token. It may change server state through k (rotate keys,
	// revoke, disable, move the clock), so rows run in order.
	token func(k *kit) string
	// isolated rows get an environment of their own, because they change something
	// every later row would see (the signing key).
	isolated bool
	// The requirement of the call: ValidateToken's required_acr and max_age, and the
	// rule of the method the interceptor guards.
	acr    string
	maxAge time.Duration

	// want is ValidateToken's verdict. wantRPC, when not OK, is the status the
	// ValidateToken call itself must fail with instead (limits enforced before the
	// handler runs).
	want    stepupv1.ValidationReason
	wantRPC codes.Code
	// interceptor is the code the client interceptor answers the guarded call with,
	// and stepUp whether that answer is the step-up challenge (ErrorInfo
	// INSUFFICIENT_USER_AUTHENTICATION).
	interceptor codes.Code
	stepUp      bool
}

// Verdict shorthands for the table.
const (
	vOK           = stepupv1.ValidationReason_VALIDATION_REASON_OK
	vMalformed    = stepupv1.ValidationReason_VALIDATION_REASON_MALFORMED
	vBadSignature = stepupv1.ValidationReason_VALIDATION_REASON_BAD_SIGNATURE
	vExpired      = stepupv1.ValidationReason_VALIDATION_REASON_EXPIRED
	vNotYetValid  = stepupv1.ValidationReason_VALIDATION_REASON_NOT_YET_VALID
	vWrongIssuer  = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_ISSUER
	vWrongAud     = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_AUDIENCE
	vRevoked      = stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
	vDisabled     = stepupv1.ValidationReason_VALIDATION_REASON_USER_DISABLED
	vUnknownUser  = stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_USER
	vLowACR       = stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR
	vTooOld       = stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD
	vUnknownKey   = stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_KEY
	vWrongType    = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_TYPE
	vNone         = stepupv1.ValidationReason_VALIDATION_REASON_UNSPECIFIED
)

// bad is a row that both checkers refuse: ValidateToken with the verdict want, the
// interceptor with UNAUTHENTICATED.
func bad(name string, want stepupv1.ValidationReason, tok func(*kit) string) hostileCase {
	return hostileCase{name: name, token: tok, want: want, interceptor: codes.Unauthenticated}
}

// good is a control row that both checkers accept: it shows that the forging helpers
// make tokens that pass, so each refusal in the table comes from the one thing its row
// changes.
func good(name string, tok func(*kit) string) hostileCase {
	return hostileCase{name: name, token: tok, want: vOK, interceptor: codes.OK}
}

// hostileCases returns the table. Tokens are forged by hand (base64url JSON header and
// payload, signed with crypto directly) with the server's real signing key where a row
// needs a valid signature, so only the property the row names is wrong.
func hostileCases() []hostileCase {
	var cases []hostileCase
	for _, group := range [][]hostileCase{
		controlCases(), algCases(), kidCases(), headerCases(), typCases(), claimCases(),
		timeCases(), shapeCases(), signatureCases(), sizeCases(), stateCases(),
	} {
		cases = append(cases, group...)
	}
	return cases
}

func controlCases() []hostileCase {
	return []hostileCase{
		good("control: forged with the server's key", func(k *kit) string {
			return k.sign(k.header(), k.payload())
		}),
		good("control: a real token from Login", func(k *kit) string { return k.realToken() }),
		good("control: typ application/AT+JWT", func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "kid", k.key.ID, "typ", "application/AT+JWT"), k.payload())
		}),
	}
}

func algCases() []hostileCase {
	var cases []hostileCase
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		cases = append(cases,
			bad("alg "+alg+" with a real signature", vMalformed, func(k *kit) string {
				// The signature segment of a real token gets the token past the
				// pre-filter, so the algorithm allowlist is what refuses it.
				input := b64(hdr("alg", alg, "kid", k.key.ID, "typ", token.Type)) + "." + b64(k.payload())
				return input + "." + signature(k.realToken())
			}),
			bad("alg "+alg+" with an empty signature", vMalformed, func(k *kit) string {
				return b64(hdr("alg", alg, "kid", k.key.ID, "typ", token.Type)) + "." + b64(k.payload()) + "."
			}),
		)
	}
	for name, secret := range publicKeyEncodings() {
		cases = append(cases, bad("HS256 MACed with the public key as "+name, vMalformed, func(k *kit) string {
			input := b64(hdr("alg", "HS256", "kid", k.key.ID, "typ", token.Type)) + "." + b64(k.payload())
			mac := hmac.New(sha256.New, secret(k))
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}))
	}
	return append(cases,
		bad("RS256 header over a real EdDSA signature", vMalformed, func(k *kit) string {
			return k.sign(hdr("alg", "RS256", "kid", k.key.ID, "typ", token.Type), k.payload())
		}),
		bad("ES256 header on the EdDSA kid, attacker's P-256 signature", vBadSignature, func(k *kit) string {
			return signWith(k, k.foreign(token.AlgES256, ""), hdr("alg", token.AlgES256, "kid", k.key.ID,
				"typ", token.Type), k.payload())
		}),
		bad("alg missing", vMalformed, func(k *kit) string {
			return k.sign(hdr("kid", k.key.ID, "typ", token.Type), k.payload())
		}),
	)
}

// publicKeyEncodings are the forms of the server's public key an attacker would try as
// an HMAC secret (RFC 8725 §2.1): every one of them is published or derivable.
func publicKeyEncodings() map[string]func(*kit) []byte {
	der := func(k *kit) []byte {
		b, err := x509.MarshalPKIXPublicKey(k.key.Signer.Public())
		if err != nil {
			k.t.Fatal(err)
		}
		return b
	}
	return map[string]func(*kit) []byte{
		"DER": der,
		"PEM": func(k *kit) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der(k)})
		},
		"JWK": func(k *kit) []byte { return k.publishedJWK() },
		"JWK Set": func(k *kit) []byte {
			resp, err := k.e.auth.GetJwks(ctx(k.t), &stepupv1.GetJwksRequest{})
			if err != nil {
				k.t.Fatal(err)
			}
			return []byte(resp.GetJwks().GetJson())
		},
	}
}

func kidCases() []hostileCase {
	kid := func(name, id string, want stepupv1.ValidationReason) hostileCase {
		return bad(name, want, func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "kid", id, "typ", token.Type), k.payload())
		})
	}
	return []hostileCase{
		bad("kid unknown, attacker's key", vUnknownKey, func(k *kit) string {
			evil := k.foreign(k.alg(), "")
			return signWith(k, evil, hdr("alg", k.alg(), "kid", evil.ID, "typ", token.Type), k.payload())
		}),
		bad("kid missing", vUnknownKey, func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "typ", token.Type), k.payload())
		}),
		kid("kid empty", "", vUnknownKey),
		kid("kid ../../dev/null", "../../dev/null", vUnknownKey),
		kid("kid /etc/passwd", "/etc/passwd", vUnknownKey),
		kid("kid SQL", "' OR 1=1--", vUnknownKey),
		kid("kid 300 bytes", strings.Repeat("k", 300), vUnknownKey),
		kid("kid 10 KB", strings.Repeat("k", 10<<10), vMalformed),
		kid("kid NUL", "\x00", vMalformed),
		kid("kid with quote and backslash", `a"\`, vMalformed),
	}
}

func headerCases() []hostileCase {
	// Each row signs with an attacker's key and names it in the header, the way the
	// attack would really be made; the URL rows point at the kit's listener, which
	// must never be called.
	evil := func(name string, extra func(k *kit, evil *token.PrivateKey) (string, any)) hostileCase {
		return bad(name, vMalformed, func(k *kit) string {
			key := k.foreign(k.alg(), "")
			n, v := extra(k, key)
			return signWith(k, key, hdr("alg", k.alg(), "kid", key.ID, "typ", token.Type, n, v), k.payload())
		})
	}
	return []hostileCase{
		evil("jku to the attacker's JWK Set", func(k *kit, _ *token.PrivateKey) (string, any) {
			return "jku", k.evilURL("/jwks.json")
		}),
		evil("x5u to the attacker's certificate", func(k *kit, _ *token.PrivateKey) (string, any) {
			return "x5u", k.evilURL("/cert.pem")
		}),
		evil("jwk embeds the attacker's key", func(k *kit, key *token.PrivateKey) (string, any) {
			return "jwk", json.RawMessage(jwkJSON(k, key))
		}),
		evil("x5c embeds the attacker's certificate", func(k *kit, key *token.PrivateKey) (string, any) {
			return "x5c", []string{base64.StdEncoding.EncodeToString(selfSigned(k, key))}
		}),
		bad("jku on a token signed with the server's key", vMalformed, func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "kid", k.key.ID, "typ", token.Type, "jku", k.evilURL("/j")),
				k.payload())
		}),
		bad("crit names an unknown header", vMalformed, func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "kid", k.key.ID, "typ", token.Type, "foo", "bar",
				"crit", []string{"foo"}), k.payload())
		}),
		bad("crit b64", vMalformed, func(k *kit) string {
			return k.sign(hdr("alg", k.alg(), "kid", k.key.ID, "typ", token.Type, "b64", false,
				"crit", []string{"b64"}), k.payload())
		}),
		bad("alg named twice, none first", vMalformed, func(k *kit) string {
			raw := `{"alg":"none","alg":"` + k.alg() + `","kid":"` + k.key.ID + `","typ":"at+jwt"}`
			return k.sign(raw, k.payload())
		}),
	}
}

func typCases() []hostileCase {
	typ := func(name string, fields ...any) hostileCase {
		return bad(name, vWrongType, func(k *kit) string {
			return k.sign(hdr(append([]any{"alg", k.alg(), "kid", k.key.ID}, fields...)...), k.payload())
		})
	}
	return []hostileCase{
		typ("typ JWT", "typ", "JWT"),
		typ("typ missing"),
		typ("typ empty", "typ", ""),
		typ("typ of an ID token", "typ", "application/jwt"),
		typ("typ of a logout token", "typ", "logout+jwt"),
	}
}

func claimCases() []hostileCase {
	without := func(claim string) hostileCase {
		return bad("missing "+claim, vMalformed, func(k *kit) string {
			return k.sign(k.header(), k.payload(func(p map[string]any) { delete(p, claim) }))
		})
	}
	set := func(name string, want stepupv1.ValidationReason, claim string, v any) hostileCase {
		return bad(name, want, func(k *kit) string {
			return k.sign(k.header(), k.payload(func(p map[string]any) { p[claim] = v }))
		})
	}
	cases := []hostileCase{}
	for _, c := range []string{"exp", "iat", "sub", "jti", "nbf", "iss", "aud", "sid", "acr", "auth_time"} {
		cases = append(cases, without(c))
	}
	return append(cases,
		bad("EXP instead of exp", vMalformed, func(k *kit) string {
			return k.sign(k.header(), k.payload(func(p map[string]any) { p["EXP"], p["exp"] = p["exp"], nil }))
		}),
		bad("exp as a string", vMalformed, func(k *kit) string {
			return k.sign(k.header(), k.payload(func(p map[string]any) { p["exp"] = fmt.Sprint(p["exp"]) }))
		}),
		set("exp 1e300", vMalformed, "exp", json.RawMessage("1e300")),
		set("exp with a fraction", vMalformed, "exp", json.RawMessage("1.5")),
		set("exp negative", vMalformed, "exp", -1),
		set("iss of another issuer", vWrongIssuer, "iss", "https://evil.example"),
		set("iss with a trailing slash", vWrongIssuer, "iss", "stepup/"),
		set("aud of another service", vWrongAud, "aud", "billing"),
		set("aud array without stepup", vWrongAud, "aud", []string{"billing", "payroll"}),
		set("aud empty array", vMalformed, "aud", []string{}),
		set("amr a string", vMalformed, "amr", "pwd"),
		bad("sub named twice, admin first", vMalformed, func(k *kit) string {
			return k.sign(k.header(), `{"sub":"admin",`+k.payload()[1:])
		}),
		bad("exp named twice, far future first", vMalformed, func(k *kit) string {
			return k.sign(k.header(), `{"exp":253402300799,`+k.payload()[1:])
		}),
		bad("payload is an array", vMalformed, func(k *kit) string {
			return k.sign(k.header(), "["+k.payload()+"]")
		}),
		// Only stepup's own key can sign these, so only stepup's stored state can catch
		// them: the interceptor has no user table and accepts them.
		hostileCase{name: "sub of no user, signed by stepup", want: vUnknownUser, interceptor: codes.OK,
			token: func(k *kit) string {
				return k.sign(k.header(), k.payload(func(p map[string]any) { p["sub"] = "u_nobody" }))
			}},
		hostileCase{name: "sid of no session, signed by stepup", want: vRevoked, interceptor: codes.OK,
			token: func(k *kit) string {
				return k.sign(k.header(), k.payload(func(p map[string]any) { p["sid"] = "no-such-session" }))
			}},
	)
}

func timeCases() []hostileCase {
	const leeway = 30 * time.Second // server.Config.Leeway's default
	at := func(claims map[string]time.Duration) func(*kit) string {
		return func(k *kit) string {
			now := k.now()
			return k.sign(k.header(), k.payload(func(p map[string]any) {
				p["exp"] = now.Add(time.Hour).Unix()
				for name, d := range claims {
					p[name] = now.Add(d).Unix()
				}
			}))
		}
	}
	return []hostileCase{
		bad("exp past by the leeway and 1s", vExpired, at(map[string]time.Duration{
			"exp": -leeway - time.Second, "iat": -time.Hour, "nbf": -time.Hour, "auth_time": -time.Hour})),
		good("exp past by exactly the leeway", at(map[string]time.Duration{
			"exp": -leeway, "iat": -time.Hour, "nbf": -time.Hour, "auth_time": -time.Hour})),
		bad("nbf ahead by the leeway and 1s", vNotYetValid, at(map[string]time.Duration{"nbf": leeway + time.Second})),
		good("nbf ahead by exactly the leeway", at(map[string]time.Duration{"nbf": leeway})),
		bad("iat ahead by the leeway and 1s", vNotYetValid, at(map[string]time.Duration{
			"iat": leeway + time.Second, "auth_time": leeway + time.Second})),
		bad("iat a year ahead", vNotYetValid, at(map[string]time.Duration{
			"iat": 365 * 24 * time.Hour, "nbf": 365 * 24 * time.Hour, "exp": 366 * 24 * time.Hour,
			"auth_time": 365 * 24 * time.Hour})),
	}
}

func shapeCases() []hostileCase {
	lit := func(s string) func(*kit) string { return func(*kit) string { return s } }
	edit := func(f func(tok string) string) func(*kit) string {
		return func(k *kit) string { return f(k.realToken()) }
	}
	return []hostileCase{
		bad("empty", vMalformed, lit("")),
		bad("JWE, five segments", vMalformed, lit("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d")),
		bad("JWE with dir and an empty key", vMalformed, lit("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ct.tag")),
		bad("JWS JSON serialization", vMalformed, edit(func(tok string) string {
			p := strings.Split(tok, ".")
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`
		})),
		bad("JWS JSON serialization, flattened into base64url", vMalformed, edit(func(tok string) string {
			p := strings.Split(tok, ".")
			return b64(`{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`)
		})),
		bad("character + (standard base64)", vMalformed, edit(func(tok string) string { return "+" + tok[1:] })),
		bad("character /", vMalformed, edit(func(tok string) string { return tok[:4] + "/" + tok[5:] })),
		bad("padding =", vMalformed, edit(func(tok string) string { return tok + "==" })),
		bad("space inside", vMalformed, edit(func(tok string) string { return tok[:9] + " " + tok[9:] })),
		bad("non-ASCII", vMalformed, edit(func(tok string) string { return tok[:3] + "é" + tok[3:] })),
		bad("NUL at the end", vMalformed, edit(func(tok string) string { return tok + "\x00" })),
		bad("Bearer prefix left on", vMalformed, edit(func(tok string) string { return "Bearer " + tok })),
	}
}

func signatureCases() []hostileCase {
	sig := func(name string, want stepupv1.ValidationReason, f func(sig string) string) hostileCase {
		return bad(name, want, func(k *kit) string {
			tok := k.realToken()
			dot := strings.LastIndexByte(tok, '.')
			return tok[:dot+1] + f(tok[dot+1:])
		})
	}
	return []hostileCase{
		sig("signature stripped", vMalformed, func(string) string { return "" }),
		bad("signature segment removed", vMalformed, func(k *kit) string {
			tok := k.realToken()
			return tok[:strings.LastIndexByte(tok, '.')]
		}),
		sig("signature zeroed", vBadSignature, func(s string) string { return strings.Repeat("A", len(s)) }),
		sig("signature truncated by 4", vBadSignature, func(s string) string { return s[:len(s)-4] }),
		sig("signature truncated to half", vBadSignature, func(s string) string { return s[:len(s)/2] }),
		sig("signature doubled", vBadSignature, func(s string) string { return s + s }),
		bad("payload changed under a real signature", vBadSignature, func(k *kit) string {
			p := strings.Split(k.realToken(), ".")
			return p[0] + "." + b64(k.payload(func(m map[string]any) { m["acr"] = token.ACR2 })) + "." + p[2]
		}),
	}
}

func sizeCases() []hostileCase {
	return []hostileCase{
		bad("signed, one byte over MaxTokenSize", vMalformed, func(k *kit) string {
			base := k.sign(k.header(), k.payload())
			pad := strings.Repeat("x", (token.MaxTokenSize-len(base))*3/4+8)
			tok := k.sign(k.header(), k.payload(func(p map[string]any) { p["pad"] = pad }))
			for len(tok) <= token.MaxTokenSize {
				pad += "x"
				tok = k.sign(k.header(), k.payload(func(p map[string]any) { p["pad"] = pad }))
			}
			return tok
		}),
		bad("60 KiB of dots", vMalformed, func(*kit) string { return strings.Repeat(".", 60<<10) }),
		bad("60 KiB of base64url", vMalformed, func(*kit) string { return strings.Repeat("A", 60<<10) }),
		// A megabyte does not fit in stepup's 64 KiB gRPC message bound: ValidateToken
		// never runs. The guarded service of the interceptor suites keeps grpc-go's
		// default header-list bound, so the interceptor itself refuses it.
		{name: "a megabyte of dots", token: func(*kit) string { return strings.Repeat(".", 1<<20) },
			want: vNone, wantRPC: codes.ResourceExhausted, interceptor: codes.Unauthenticated},
	}
}

func stateCases() []hostileCase {
	return []hostileCase{
		bad("token revoked by jti (RevokeToken)", vRevoked, func(k *kit) string {
			tok := k.realToken()
			_, err := k.e.admin.RevokeToken(ctx(k.t), &stepupv1.RevokeTokenRequest{TokenId: claimOf(k.t, tok, "jti")})
			if err != nil {
				k.t.Fatal(err)
			}
			return tok
		}),
		bad("user's tokens revoked (RevokeUserTokens)", vRevoked, func(k *kit) string {
			name := k.newUser()
			tok := k.e.login(name, alicePassword).GetAccessToken()
			k.admin(func(ref *stepupv1.UserRef) error {
				_, err := k.e.admin.RevokeUserTokens(ctx(k.t), &stepupv1.RevokeUserTokensRequest{User: ref})
				return err
			}, name)
			return tok
		}),
		bad("token of a disabled user", vDisabled, func(k *kit) string {
			name := k.newUser()
			tok := k.e.login(name, alicePassword).GetAccessToken()
			k.admin(func(ref *stepupv1.UserRef) error {
				_, err := k.e.admin.DisableUser(ctx(k.t), &stepupv1.DisableUserRequest{User: ref})
				return err
			}, name)
			return tok
		}),
		{name: "pre-step-up (aal1) token on an aal2 call", acr: token.ACR2, want: vLowACR,
			interceptor: codes.Unauthenticated, stepUp: true,
			token: func(k *kit) string { return k.realToken() }},
		{name: "forged acr aal3 on an aal2 call", acr: token.ACR2, want: vLowACR,
			interceptor: codes.Unauthenticated, stepUp: true,
			token: func(k *kit) string {
				return k.sign(k.header(), k.payload(func(p map[string]any) { p["acr"] = "aal3" }))
			}},
		{name: "step-up token older than max_age", acr: token.ACR2, maxAge: 5 * time.Minute, want: vTooOld,
			interceptor: codes.Unauthenticated, stepUp: true,
			token: func(k *kit) string {
				tok := k.stepUpToken()
				k.e.clock.Advance(5*time.Minute + time.Second)
				return tok
			}},
		{name: "control: step-up token at exactly max_age", acr: token.ACR2, maxAge: 5 * time.Minute,
			want: vOK, interceptor: codes.OK,
			token: func(k *kit) string {
				tok := k.stepUpToken()
				k.e.clock.Advance(5 * time.Minute)
				return tok
			}},
		{name: "control: token of a retired key that is still published", isolated: true,
			want: vOK, interceptor: codes.OK,
			token: func(k *kit) string {
				k.rotate(6 * time.Minute) // the next key has been published for a cache period
				return k.sign(k.header(), k.payload())
			}},
		{name: "token of a removed key", isolated: true, want: vUnknownKey,
			interceptor: codes.Unauthenticated,
			token: func(k *kit) string {
				k.rotate(6 * time.Minute)
				// A retired key is removed once every token it signed has expired: the
				// access token TTL plus the leeway after it retired.
				k.rotate(15*time.Minute + 31*time.Second)
				return k.sign(k.header(), k.payload())
			}},
	}
}

// kit is what the rows build tokens with: a running daemon, the signing key read out
// of its store, the ids of a real user and session, and a listener standing in for
// the attacker's web server.
type kit struct {
	t    *testing.T
	e    *env
	key  *token.PrivateKey // the server's current signing key when the kit was made
	user string            // the kit user's username, id and session
	sub  string
	sid  string
	// evil is the attacker's server for jku and x5u; hits counts requests to it.
	evil  *httptest.Server
	hits  atomic.Int64
	users int
}

// newKit starts a daemon, logs a user in, and reads the signing key out of the store
// while the daemon is stopped (bbolt's file lock admits one process).
func newKit(t *testing.T) *kit {
	t.Helper()
	k := &kit{t: t, user: "hostile"}
	k.evil = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		k.hits.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(k.evil.Close)

	k.e = &env{t: t, clock: newClock(), dataDir: t.TempDir()}
	k.e.bootWith(fastPasswords)
	k.e.createUser(k.user, alicePassword)
	tok := k.e.login(k.user, alicePassword).GetAccessToken()
	k.sub, k.sid = claimOf(t, tok, "sub"), claimOf(t, tok, "sid")

	k.e.stop()
	k.key = currentSigningKey(t, k.e.dataDir)
	k.e.bootWith(fastPasswords)
	return k
}

// fastPasswords makes argon2id cheap: these tests are about tokens, not hashing cost.
func fastPasswords(o *daemon.Options) {
	o.Server.Password.Params.Memory = 64
	o.Server.Password.Params.Time = 1
	o.Server.Password.Params.Threads = 1
	o.Server.Password.AllowWeak = true
}

// currentSigningKey opens the stopped daemon's store and returns its current signing
// key.
func currentSigningKey(t *testing.T, dataDir string) *token.PrivateKey {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	var priv *token.PrivateKey
	err := st.View(func(tx *store.Tx) error {
		keys, err := tx.Keys()
		if err != nil {
			return err
		}
		for _, sk := range keys {
			if sk.State == store.KeyCurrent {
				priv, err = token.ParsePrivateKey(sk.ID, sk.Alg, sk.Private)
				return err
			}
		}
		return fmt.Errorf("no current key among %d", len(keys))
	})
	if err != nil {
		t.Fatalf("read signing key: %v", err)
	}
	return priv
}

// openStore opens a stopped daemon's database with the master key from its data
// directory.
func openStore(t testing.TB, dataDir string) *store.Store {
	t.Helper()
	key, _, err := store.LoadOrCreateMasterKey(filepath.Join(dataDir, daemon.MasterKeyFile), nil)
	if err != nil {
		t.Fatalf("master key: %v", err)
	}
	st, err := store.Open(filepath.Join(dataDir, daemon.DBFile), store.Options{MasterKey: key})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

func (k *kit) now() time.Time { return k.e.clock.Now() }
func (k *kit) alg() string    { return k.key.Alg }

// header is the header the server itself writes.
func (k *kit) header() string { return hdr("alg", k.alg(), "kid", k.key.ID, "typ", token.Type) }

// payload is the JSON of a valid aal1 token for the kit's user and session, issued
// now, changed by edits. A nil value deletes a claim; json.RawMessage values are
// written as they are.
func (k *kit) payload(edits ...func(map[string]any)) string {
	now := k.now()
	p := map[string]any{
		"iss": "stepup", "aud": "stepup", "client_id": "stepup", "sub": k.sub, "sid": k.sid,
		"jti": randomID(k.t), "acr": token.ACR1, "amr": []string{token.AMRPassword},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"auth_time": now.Unix(),
	}
	for _, edit := range edits {
		edit(p)
	}
	for name, v := range p {
		if v == nil {
			delete(p, name)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		k.t.Fatal(err)
	}
	return string(b)
}

// sign makes a compact JWS of header and payload JSON text with the server's key.
func (k *kit) sign(header, payload string) string { return signWith(k, k.key, header, payload) }

// signWith makes a compact JWS of header and payload JSON text, signed by priv over
// exactly the bytes sent, without go-jose or token.Signer in the way.
func signWith(k *kit, priv *token.PrivateKey, header, payload string) string {
	input := b64(header) + "." + b64(payload)
	var sig []byte
	switch s := priv.Signer.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(s, []byte(input))
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(rand.Reader, s, digest[:])
		if err != nil {
			k.t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	default:
		k.t.Fatalf("unsupported signer %T", priv.Signer)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// foreign returns a key stepup has never seen, with the given kid or a random one.
func (k *kit) foreign(alg, kid string) *token.PrivateKey {
	priv, err := token.GenerateKey(alg, rand.Reader)
	if err != nil {
		k.t.Fatal(err)
	}
	if kid != "" {
		priv.ID = kid
	}
	return priv
}

// realToken logs the kit's user in and returns the server's aal1 token.
func (k *kit) realToken() string { return k.e.login(k.user, alicePassword).GetAccessToken() }

// stepUpToken creates a user with TOTP and returns an aal2 token issued now.
func (k *kit) stepUpToken() string {
	name := k.newUser()
	tok := k.e.login(name, alicePassword).GetAccessToken()
	secret := k.e.enrollTOTP(tok)
	k.e.clock.Advance(30 * time.Second) // the confirmation spent this step
	resp, err := k.e.stepUp(tok, stepupv1.Factor_FACTOR_TOTP, k.e.code(secret))
	if err != nil {
		k.t.Fatalf("step up: %v", err)
	}
	return resp.GetAccessToken()
}

// newUser creates a user of its own for a row that changes the user's state.
func (k *kit) newUser() string {
	k.users++
	name := fmt.Sprintf("row-user-%d", k.users)
	k.e.createUser(name, alicePassword)
	return name
}

// admin runs an AdminService call on the user named name.
func (k *kit) admin(call func(*stepupv1.UserRef) error, name string) {
	k.t.Helper()
	if err := call(&stepupv1.UserRef{Ref: &stepupv1.UserRef_Username{Username: name}}); err != nil {
		k.t.Fatalf("admin call on %s: %v", name, err)
	}
}

// rotate moves the clock by d and asks for a rotation, which also applies the key
// schedule: promotion of a next key that has been published long enough, removal of a
// retired key whose tokens have all expired.
func (k *kit) rotate(d time.Duration) {
	k.t.Helper()
	k.e.clock.Advance(d)
	if _, err := k.e.admin.RotateSigningKey(ctx(k.t), &stepupv1.RotateSigningKeyRequest{}); err != nil {
		k.t.Fatalf("RotateSigningKey: %v", err)
	}
}

// evilURL is a URL on the attacker's server.
func (k *kit) evilURL(path string) string { return k.evil.URL + path }

// publishedJWK is the JSON of the server's key exactly as GetJwks publishes it.
func (k *kit) publishedJWK() []byte {
	resp, err := k.e.auth.GetJwks(ctx(k.t), &stepupv1.GetJwksRequest{})
	if err != nil {
		k.t.Fatal(err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(resp.GetJwks().GetJson()), &doc); err != nil {
		k.t.Fatal(err)
	}
	for _, raw := range doc.Keys {
		if strings.Contains(string(raw), `"`+k.key.ID+`"`) {
			return raw
		}
	}
	k.t.Fatalf("key %s is not published", k.key.ID)
	return nil
}

// hdr builds a JSON object from name, value pairs, in that order.
func hdr(pairs ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(pairs[i])
		value, _ := json.Marshal(pairs[i+1])
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.String()
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signature is the signature segment of a compact JWS.
func signature(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// claimOf reads one string claim of a token without verifying it.
func claimOf(t testing.TB, tok, name string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d segments", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	s, _ := claims[name].(string)
	return s
}

func randomID(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwkJSON is key's public half as a JWK.
func jwkJSON(k *kit, key *token.PrivateKey) []byte {
	set, err := token.NewKeySet(key.PublicKey())
	if err != nil {
		k.t.Fatal(err)
	}
	doc, err := set.MarshalJSON()
	if err != nil {
		k.t.Fatal(err)
	}
	var parsed struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		k.t.Fatal(err)
	}
	return parsed.Keys[0]
}

// selfSigned is a certificate for key, signed by itself, as an x5c chain would carry.
func selfSigned(k *kit, key *token.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stepup"},
		NotBefore: k.now().Add(-time.Hour), NotAfter: k.now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Signer.Public(), key.Signer)
	if err != nil {
		k.t.Fatal(err)
	}
	return der
}

// hostileRunner checks one row's token; each suite supplies its own.
type hostileRunner func(t *testing.T, k *kit, tc hostileCase, tok string)

// runHostile runs every row through the runner that newRunner makes for a kit. Rows
// share one kit, except isolated ones, which get a fresh kit each.
func runHostile(t *testing.T, newRunner func(t *testing.T, k *kit) hostileRunner) {
	shared := newKit(t)
	sharedRun := newRunner(t, shared)
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			k, run := shared, sharedRun
			if tc.isolated {
				k = newKit(t)
				run = newRunner(t, k)
			}
			// Helpers report failures on the row's own test.
			defer func(pt, et *testing.T) { k.t, k.e.t = pt, et }(k.t, k.e.t)
			k.t, k.e.t = t, t

			run(t, k, tc, tc.token(k))
			if n := k.hits.Load(); n != 0 {
				t.Fatalf("the attacker's server got %d requests", n)
			}
		})
	}
}

// TestHostileTokensValidateToken sends every hostile token to ValidateToken on a real
// daemon over TCP. A bad token is a verdict (valid=false with the reason), not an RPC
// error; only limits enforced before the handler (the 64 KiB message bound) fail the
// call.
func TestHostileTokensValidateToken(t *testing.T) {
	runHostile(t, func(*testing.T, *kit) hostileRunner { return validateRow })
}

func validateRow(t *testing.T, k *kit, tc hostileCase, tok string) {
	req := &stepupv1.ValidateTokenRequest{Token: tok, RequiredAcr: tc.acr}
	if tc.maxAge > 0 {
		req.MaxAge = durationOf(tc.maxAge)
	}
	resp, err := k.e.auth.ValidateToken(ctx(t), req)
	if tc.wantRPC != codes.OK {
		wantCode(t, err, tc.wantRPC)
		return
	}
	if err != nil {
		t.Fatalf("ValidateToken failed as an RPC: %v", err)
	}
	if resp.GetReason() != tc.want || resp.GetValid() != (tc.want == vOK) {
		t.Fatalf("valid %v, reason %v; want reason %v", resp.GetValid(), resp.GetReason(), tc.want)
	}
	// Claims are only ever returned once the signature verified.
	if resp.GetClaims() != nil && tc.want == vMalformed {
		t.Fatalf("claims returned for a malformed token: %v", resp.GetClaims())
	}
}
