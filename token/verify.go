package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	defaultLeeway = 30 * time.Second
	// maxLeeway caps clock skew tolerance; RFC 7519 §4.1.4 speaks of "a few minutes",
	// and every extra second extends the life of a stolen token.
	maxLeeway = 2 * time.Minute
	// sigLen is the size of both an Ed25519 and an ES256 (r||s) signature, and
	// sigSegLen the length of its unpadded base64url encoding.
	sigLen    = 64
	sigSegLen = 86
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Issuer   string        // required: the only accepted iss
	Audience string        // required: must be one of the token's aud values
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; default 30s, at most 2m
	Now      func() time.Time
	// Keys returns the current key set. It is called once per Verify, so rotation is
	// a matter of changing what it returns; it should be cheap, such as an
	// atomic.Pointer load. A nil set rejects every token with ErrUnknownKey.
	Keys func() *KeySet
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	issuer, audience string
	leeway           time.Duration
	now              func() time.Time
	keys             func() *KeySet
}

// NewVerifier checks cfg and fills in defaults.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var bad []string
	if cfg.Issuer == "" {
		bad = append(bad, "Issuer is empty")
	}
	if cfg.Audience == "" {
		bad = append(bad, "Audience is empty")
	}
	if cfg.Leeway < 0 || cfg.Leeway > maxLeeway {
		bad = append(bad, "Leeway is outside 0..2m")
	}
	if cfg.Keys == nil {
		bad = append(bad, "Keys is nil")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway,
		now: cfg.Now, keys: cfg.Keys}
	if v.leeway == 0 {
		v.leeway = defaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Errors for rejections that happen before the signature is checked are built once:
// an unauthenticated flood of junk then costs no allocation per rejected token.
var (
	errSize     = fmt.Errorf("%w: length outside 1..%d bytes", ErrMalformed, MaxTokenSize)
	errCharset  = fmt.Errorf("%w: character outside base64url", ErrMalformed)
	errSegments = fmt.Errorf("%w: not three non-empty segments", ErrMalformed)
	errJWS      = fmt.Errorf("%w: not a compact JWS signed with EdDSA or ES256", ErrMalformed)
	errSigCount = fmt.Errorf("%w: not exactly one signature", ErrMalformed)
	errNoKid    = fmt.Errorf("%w: no kid header", ErrUnknownKey)
	errKid      = fmt.Errorf("%w: kid not in the key set", ErrUnknownKey)
	errAlg      = fmt.Errorf("%w: alg header does not match the key's algorithm", ErrBadSignature)
	errSig      = fmt.Errorf("%w: signature does not verify", ErrBadSignature)
	errTyp      = fmt.Errorf("%w: typ is not at+jwt", ErrWrongType)
	errClaims   = fmt.Errorf("%w: claims are not a JSON object of the right types", ErrMalformed)
	errAuthTime = fmt.Errorf("%w: auth_time is after iat", ErrMalformed)
	errIssuer   = fmt.Errorf("%w: unexpected iss", ErrWrongIssuer)
	errAudience = fmt.Errorf("%w: aud does not name this service", ErrWrongAudience)
	errExpired  = fmt.Errorf("%w: past exp", ErrExpired)
	errNbf      = fmt.Errorf("%w: nbf in the future", ErrNotYetValid)
	errIat      = fmt.Errorf("%w: iat in the future", ErrNotYetValid)
)

// Prefilter rejects, before any decoding, anything that cannot be a compact JWS of
// acceptable size: it must be 1..MaxTokenSize bytes of [A-Za-z0-9_.-] with exactly
// two dots separating three non-empty segments. It does not allocate and is linear
// in the input, so oversized or dot-flooded input costs next to nothing
// (CVE-2025-27144 was a go-jose slowdown on many dots).
func Prefilter(raw string) error {
	if len(raw) == 0 || len(raw) > MaxTokenSize {
		return errSize
	}
	// A branch-free pass over the bytes, then the dots found with the runtime's
	// vectorised search: several times faster than one branchy loop.
	var bad uint8
	for i := 0; i < len(raw); i++ {
		bad |= notTokenByte[raw[i]]
	}
	if bad != 0 {
		return errCharset
	}
	first, last := strings.IndexByte(raw, '.'), strings.LastIndexByte(raw, '.')
	if first <= 0 || last == len(raw)-1 || last-first < 2 || strings.Count(raw, ".") != 2 {
		return errSegments
	}
	return nil
}

// notTokenByte is 1 for every byte outside [A-Za-z0-9_.-].
var notTokenByte = func() (t [256]uint8) {
	for i := range t {
		t[i] = 1
	}
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = 0
	}
	return t
}()

// Verify checks raw and returns its claims. The steps follow RFC 8725 and RFC 9068
// §4; each failure wraps one sentinel from errors.go. It never consults go-jose's
// Claims.Validate, which skips absent exp, nbf and iat.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if err := Prefilter(raw); err != nil {
		return nil, err
	}
	typOK, err := checkHeader(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		// go-jose's message may quote header bytes, so it is not wrapped.
		return nil, errJWS
	}
	key, err := v.key(tok.Headers)
	if err != nil {
		return nil, err
	}
	if !typOK {
		return nil, errTyp
	}
	if err := verifySignature(key, raw); err != nil {
		return nil, err
	}
	return v.claims(tok)
}

// allowedAlgs is the only list passed to go-jose: it rejects "none" in any letter
// case, HMAC (so a public key can never serve as an HMAC secret), RSA and JWE at
// parse time.
var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// key returns the key named by the single signature's kid and checks that the alg
// header is the one pinned to it. The kid is only ever a map key.
func (v *Verifier) key(headers []jose.Header) (Key, error) {
	if len(headers) != 1 {
		return Key{}, errSigCount
	}
	h := &headers[0]
	if h.KeyID == "" {
		return Key{}, errNoKid
	}
	key, ok := v.keys().lookup(h.KeyID)
	if !ok {
		return Key{}, errKid
	}
	if h.Algorithm != key.Alg {
		return Key{}, errAlg
	}
	return key, nil
}

// sigEncoding rejects non-zero padding bits, so one signature has one spelling.
var sigEncoding = base64.RawURLEncoding.Strict()

// verifySignature checks the signature over the signing input exactly as received,
// raw up to its last dot (RFC 7515 §5.2), with the pinned key. Doing this here
// rather than in go-jose's Verify saves it decoding the header once more and
// re-encoding the payload, and makes the check byte-exact: go-jose re-encodes the
// segments, so it accepts every spelling of them that decodes to the same bytes.
func verifySignature(key Key, raw string) error {
	dot := strings.LastIndexByte(raw, '.')
	seg := raw[dot+1:]
	if len(seg) != sigSegLen {
		return errSig
	}
	var segBuf [sigSegLen]byte
	var sig [sigLen]byte
	copy(segBuf[:], seg)
	if n, err := sigEncoding.Decode(sig[:], segBuf[:]); err != nil || n != sigLen {
		return errSig
	}
	input := []byte(raw[:dot])
	var ok bool
	switch pub := key.Public.(type) {
	case ed25519.PublicKey:
		ok = key.Alg == AlgEdDSA && ed25519.Verify(pub, input, sig[:])
	case *ecdsa.PublicKey:
		ok = key.Alg == AlgES256 && verifyES256(pub, input, &sig)
	}
	if !ok {
		return errSig
	}
	return nil
}

// verifyES256 checks a JWS ECDSA signature, the fixed-size r||s of RFC 7518 §3.4.
// ECDSA signatures are malleable ((r, s) and (r, n-s) both verify), so nothing may
// treat the token string as unique; jti is the token's identity.
func verifyES256(pub *ecdsa.PublicKey, input []byte, sig *[sigLen]byte) bool {
	digest := sha256.Sum256(input)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}

// claims decodes the verified payload and applies the claim rules.
func (v *Verifier) claims(tok *jwt.JSONWebToken) (*Claims, error) {
	var w wireClaims
	// The signature over exactly these bytes was checked by verifySignature above;
	// go-jose's own Verify would repeat that work.
	if err := tok.UnsafeClaimsWithoutVerification(&w); err != nil {
		return nil, errClaims
	}
	if name := w.check(); name != "" {
		return nil, fmt.Errorf("%w: claim %s is missing, empty, null or not allowed", ErrMalformed, name)
	}
	if err := v.validate(&w); err != nil {
		return nil, err
	}
	return w.claims(), nil
}

// validate applies the issuer, audience and time rules.
func (v *Verifier) validate(w *wireClaims) error {
	if w.Issuer != v.issuer {
		return errIssuer
	}
	if !slices.Contains(w.Audience, v.audience) {
		return errAudience
	}
	now := v.now()
	if now.After(w.Expiry.time().Add(v.leeway)) {
		return errExpired
	}
	ahead := now.Add(v.leeway)
	if w.NotBefore.time().After(ahead) {
		return errNbf
	}
	if w.IssuedAt.time().After(ahead) {
		return errIat
	}
	if w.AuthTime != nil && w.AuthTime.time().After(w.IssuedAt.time().Add(v.leeway)) {
		return errAuthTime
	}
	return nil
}
