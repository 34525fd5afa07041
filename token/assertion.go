package token

import (
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AssertionType is the typ header of a client assertion. It differs from Type, so an
// assertion can never pass as an access token, whose verifiers require at+jwt.
const AssertionType = "JWT"

// MaxAssertionLifetime bounds exp - now of a client assertion. RFC 7523 §3 asks for
// a short exp; the bound is also how long a used jti must be remembered.
const MaxAssertionLifetime = 5 * time.Minute

// Assertion is a verified RFC 7523 client assertion.
type Assertion struct {
	Service string    // iss = sub: the service that signed it
	ID      string    // jti: the caller must accept each one once
	Expiry  time.Time // exp: the jti must be remembered until then
}

// wireAssertion is the JSON form of an assertion.
type wireAssertion struct {
	Issuer   string      `json:"iss"`
	Subject  string      `json:"sub"`
	Audience audience    `json:"aud"`
	Expiry   numericDate `json:"exp"`
	IssuedAt numericDate `json:"iat"`
	ID       string      `json:"jti"`
}

// SignAssertion makes a client assertion for service, addressed to aud (stepup's
// issuer), valid for ttl (at most MaxAssertionLifetime) from now, with the given jti.
func SignAssertion(k *PrivateKey, service, aud, jti string, now time.Time,
	ttl time.Duration) (string, error) {
	if k == nil || !ValidServiceName(service) || aud == "" || jti == "" ||
		ttl <= 0 || ttl > MaxAssertionLifetime {
		return "", fmt.Errorf("%w: assertion needs a key, a service name, an audience, "+
			"a jti and a ttl in (0, %v]", ErrInvalidClaims, MaxAssertionLifetime)
	}
	opts := (&jose.SignerOptions{}).WithType(AssertionType).WithHeader("kid", k.ID)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: k.Signer}, opts)
	if err != nil {
		return "", fmt.Errorf("%w: go-jose refused the signing key", ErrInvalidKey)
	}
	w := wireAssertion{Issuer: service, Subject: service, Audience: audience{aud},
		Expiry: dateOf(now.Add(ttl)), IssuedAt: dateOf(now), ID: jti}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("%w: cannot encode assertion", ErrInvalidClaims)
	}
	jws, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: signing assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// AssertionConfig says how VerifyAssertion checks an assertion.
type AssertionConfig struct {
	Audience string        // required: stepup's issuer, which aud must contain
	Leeway   time.Duration // clock skew allowed on exp and iat; at most 2m
	Now      time.Time
	// Keys returns the registered keys of a service, or an error if the service is not
	// registered (the error is returned as it is).
	Keys func(service string) (*KeySet, error)
}

var (
	errAssertion       = fmt.Errorf("%w: assertion claims are not well formed", ErrMalformed)
	errAssertionTTL    = fmt.Errorf("%w: assertion lives longer than allowed", ErrMalformed)
	errAssertionIssuer = fmt.Errorf("%w: assertion iss is not its sub or not a service", ErrMalformed)
)

// VerifyAssertion checks a client assertion: shape, the signature under a key of the
// service named by iss (the alg pinned to the key, as for access tokens), iss = sub
// = a service name, aud, a present exp no further than MaxAssertionLifetime ahead, and
// iat not in the future. Single use of the jti is for the caller to enforce.
func VerifyAssertion(raw string, cfg AssertionConfig) (*Assertion, error) {
	if err := Prefilter(raw); err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		return nil, errJWS
	}
	// iss picks the key set; nothing else is believed before the signature checks.
	var w wireAssertion
	if err := tok.UnsafeClaimsWithoutVerification(&w); err != nil {
		return nil, errClaims
	}
	if w.Issuer != w.Subject || !ValidServiceName(w.Issuer) {
		return nil, errAssertionIssuer
	}
	keys, err := cfg.Keys(w.Issuer)
	if err != nil {
		return nil, err
	}
	v := &Verifier{keys: func() *KeySet { return keys }}
	key, err := v.key(tok.Headers)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(key, raw); err != nil {
		return nil, err
	}
	if err := w.validate(cfg); err != nil {
		return nil, err
	}
	return &Assertion{Service: w.Issuer, ID: w.ID, Expiry: w.Expiry.time()}, nil
}

// validate applies the claim and time rules of an assertion.
func (w *wireAssertion) validate(cfg AssertionConfig) error {
	if w.ID == "" || len(w.ID) > 256 || !w.Expiry.set || !nonEmpty(w.Audience) {
		return errAssertion
	}
	if !slices.Contains(w.Audience, cfg.Audience) || strings.TrimSpace(cfg.Audience) == "" {
		return errAudience
	}
	exp := w.Expiry.time()
	if cfg.Now.After(exp.Add(cfg.Leeway)) {
		return errExpired
	}
	if exp.Sub(cfg.Now) > MaxAssertionLifetime+cfg.Leeway {
		return errAssertionTTL
	}
	if w.IssuedAt.set && w.IssuedAt.time().After(cfg.Now.Add(cfg.Leeway)) {
		return errIat
	}
	return nil
}
