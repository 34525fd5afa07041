package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/json"
)

// Signer issues access tokens with one private key. It is safe for concurrent use.
type Signer struct {
	kid    string
	signer jose.Signer
}

// NewSigner returns a Signer whose tokens carry the headers alg, kid and
// typ "at+jwt", and nothing else. The kid must be at most MaxKeyIDLen bytes of
// printable ASCII other than " \ < > &, so that it is written without escapes, the
// only form Verify accepts; GenerateKey's kids qualify.
func NewSigner(k *PrivateKey) (*Signer, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrInvalidKey)
	}
	if !validKeyID(k.ID) {
		return nil, fmt.Errorf("%w: kid is empty, too long, or needs escaping in JSON", ErrInvalidKey)
	}
	if err := checkKey(k.PublicKey()); err != nil {
		return nil, err
	}
	var key any
	switch s := k.Signer.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
		key = s
	default:
		key = cryptosigner.Opaque(s)
	}
	opts := (&jose.SignerOptions{}).WithType(Type).WithHeader("kid", k.ID)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: go-jose refused the signing key", ErrInvalidKey)
	}
	return &Signer{kid: k.ID, signer: js}, nil
}

// KeyID returns the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns c as a compact JWS. Times are written as whole seconds, truncating any
// fraction. It refuses claims that Verify would reject, so an issuer bug shows up
// here rather than as tokens that fail everywhere.
func (s *Signer) Sign(c *Claims) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w: nil claims", ErrInvalidClaims)
	}
	w, err := c.wire()
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("%w: cannot encode claims", ErrInvalidClaims)
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: signing: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("token: serializing: %w", err)
	}
	if len(raw) > MaxTokenSize {
		return "", fmt.Errorf("%w: token would exceed MaxTokenSize", ErrInvalidClaims)
	}
	return raw, nil
}
