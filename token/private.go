package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
)

// PrivateKey is a signing key with its kid and the one algorithm it signs with.
type PrivateKey struct {
	ID     string        // kid
	Alg    string        // AlgEdDSA or AlgES256
	Signer crypto.Signer // ed25519.PrivateKey, *ecdsa.PrivateKey, or an opaque signer such as a KMS key
}

// GenerateKey creates a key for alg with a kid of 16 bytes from rand, base64url
// encoded without padding. The kid is random rather than a thumbprint so that it
// says nothing about the key. Ed25519 keys are drawn from rand; since Go 1.26
// ecdsa.GenerateKey ignores a custom reader (unless GODEBUG=cryptocustomrand=1) and
// uses crypto/rand.
func GenerateKey(alg string, rand io.Reader) (*PrivateKey, error) {
	var id [16]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return nil, fmt.Errorf("token: reading kid: %w", err)
	}
	k := &PrivateKey{ID: base64.RawURLEncoding.EncodeToString(id[:]), Alg: alg}
	switch alg {
	case AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("token: generating Ed25519 key: %w", err)
		}
		k.Signer = priv
	case AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("token: generating P-256 key: %w", err)
		}
		k.Signer = priv
	default:
		return nil, fmt.Errorf("%w: unsupported alg", ErrInvalidKey)
	}
	return k, nil
}

// ParsePrivateKey reads a PKCS #8 DER private key and pins it to id and alg. It
// fails unless the key type matches alg.
func ParsePrivateKey(id, alg string, pkcs8 []byte) (*PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		// The x509 error is dropped: it is no help to an operator and must not risk
		// quoting key bytes.
		return nil, fmt.Errorf("%w: not a PKCS #8 private key", ErrInvalidKey)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: private key cannot sign", ErrInvalidKey)
	}
	k := &PrivateKey{ID: id, Alg: alg, Signer: signer}
	if err := checkKey(k.PublicKey()); err != nil {
		return nil, err
	}
	return k, nil
}

// MarshalPKCS8 returns the private key in PKCS #8 DER form. It fails for opaque
// signers, whose key material is not at hand.
func (k *PrivateKey) MarshalPKCS8() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot encode private key as PKCS #8", ErrInvalidKey)
	}
	return der, nil
}

// PublicKey returns the verification key that matches k.
func (k *PrivateKey) PublicKey() Key {
	if k.Signer == nil {
		return Key{ID: k.ID, Alg: k.Alg}
	}
	return Key{ID: k.ID, Alg: k.Alg, Public: k.Signer.Public()}
}
