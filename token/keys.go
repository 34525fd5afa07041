package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"math/big"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// MaxJWKSSize is the largest JWK Set document ParseJWKS reads.
const MaxJWKSSize = 64 << 10

// Key is a public verification key with the one algorithm it may be used with.
// Pinning the algorithm to the key, instead of trusting the token's alg header, is
// what stops algorithm confusion (RFC 8725 §3.1): go-jose itself does not compare a
// JWK's alg with the header.
type Key struct {
	ID     string           // kid
	Alg    string           // AlgEdDSA or AlgES256
	Public crypto.PublicKey // ed25519.PublicKey for EdDSA, *ecdsa.PublicKey on P-256 for ES256
}

// KeySet is an immutable set of verification keys indexed by kid. It is safe for
// concurrent use; rotating keys means building a new KeySet.
type KeySet struct {
	keys []Key          // sorted by ID
	byID map[string]Key // the same keys, for Lookup
	json []byte         // the RFC 7517 form, built once
}

// NewKeySet returns a set holding copies of keys. It rejects an empty list, an
// algorithm other than EdDSA or ES256, a key whose type does not match its algorithm,
// an empty or duplicate kid, and any key ParseJWKS would reject (such as a low-order
// Ed25519 point or an EC point off the curve): every key goes through the same JWK
// decoder that reads a fetched JWKS, so both paths accept exactly the same keys.
func NewKeySet(keys ...Key) (*KeySet, error) {
	parsed := make([]Key, 0, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		raw, err := json.Marshal(jwkOf(k))
		if err != nil {
			return nil, fmt.Errorf("%w: key %d cannot be encoded", ErrInvalidKey, i)
		}
		p, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		parsed = append(parsed, p)
	}
	return buildKeySet(parsed)
}

// ParseJWKS reads an RFC 7517 JWK Set from an untrusted source. Besides what
// NewKeySet rejects, it refuses documents over MaxJWKSSize, private and symmetric
// ("oct") keys, keys without alg or kid, keys whose use is neither "sig" nor absent,
// and keys that carry certificates (x5c, x5u), which stepup never publishes.
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > MaxJWKSSize {
		return nil, fmt.Errorf("%w: JWKS larger than %d bytes", ErrInvalidKey, MaxJWKSSize)
	}
	// go-jose's JSON decoder matches names case-sensitively and rejects duplicate
	// names, so "KEYS" or a second "keys" cannot smuggle in another list.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: JWKS is not a JSON object with a keys array", ErrInvalidKey)
	}
	keys := make([]Key, 0, len(doc.Keys))
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return buildKeySet(keys)
}

// jwkMembers are the members of a JWK checked before go-jose parses the key, so
// that unsupported or private keys are refused without decoding their material.
type jwkMembers struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`

	D    json.RawMessage `json:"d"`
	K    json.RawMessage `json:"k"`
	P    json.RawMessage `json:"p"`
	Q    json.RawMessage `json:"q"`
	DP   json.RawMessage `json:"dp"`
	DQ   json.RawMessage `json:"dq"`
	QI   json.RawMessage `json:"qi"`
	Priv json.RawMessage `json:"priv"`
	X5C  json.RawMessage `json:"x5c"`
	X5U  json.RawMessage `json:"x5u"`
}

// parseJWK decodes and checks one untrusted JWK.
func parseJWK(raw []byte) (Key, error) {
	var m jwkMembers
	if err := json.Unmarshal(raw, &m); err != nil {
		return Key{}, fmt.Errorf("%w: JWK is not a valid JSON object", ErrInvalidKey)
	}
	if err := m.check(); err != nil {
		return Key{}, err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return Key{}, fmt.Errorf("%w: JWK key parameters are invalid", ErrInvalidKey)
	}
	if !jwk.IsPublic() {
		return Key{}, fmt.Errorf("%w: JWK is not a public key", ErrInvalidKey)
	}
	k := Key{ID: jwk.KeyID, Alg: jwk.Algorithm, Public: jwk.Key}
	if err := checkKey(k); err != nil {
		return Key{}, err
	}
	return k, nil
}

// check applies the rules that need only the JWK's members.
func (m *jwkMembers) check() error {
	switch {
	case m.Kty == "oct":
		return fmt.Errorf("%w: symmetric (oct) key", ErrInvalidKey)
	case m.Kid == "":
		return fmt.Errorf("%w: JWK without kid", ErrInvalidKey)
	case m.Alg == "":
		// Without alg a verifier would have to trust the token header's alg.
		return fmt.Errorf("%w: JWK without alg", ErrInvalidKey)
	case m.Use != "" && m.Use != "sig":
		return fmt.Errorf("%w: JWK use is not sig", ErrInvalidKey)
	case m.hasPrivate():
		return fmt.Errorf("%w: JWK holds private key material", ErrInvalidKey)
	case m.X5C != nil || m.X5U != nil:
		return fmt.Errorf("%w: JWK carries certificates", ErrInvalidKey)
	}
	if m.Alg != AlgEdDSA && m.Alg != AlgES256 {
		return fmt.Errorf("%w: unsupported alg", ErrInvalidKey)
	}
	return nil
}

func (m *jwkMembers) hasPrivate() bool {
	for _, v := range [...]json.RawMessage{m.D, m.K, m.P, m.Q, m.DP, m.DQ, m.QI, m.Priv} {
		if v != nil {
			return true
		}
	}
	return false
}

// checkKey checks that k has a kid and a supported algorithm with a matching key.
func checkKey(k Key) error {
	if k.ID == "" {
		return fmt.Errorf("%w: empty kid", ErrInvalidKey)
	}
	switch k.Alg {
	case AlgEdDSA:
		if pub, ok := k.Public.(ed25519.PublicKey); !ok || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: EdDSA needs an Ed25519 public key", ErrInvalidKey)
		}
	case AlgES256:
		pub, ok := k.Public.(*ecdsa.PublicKey)
		if !ok || pub == nil || pub.Curve != elliptic.P256() || pub.X == nil || pub.Y == nil {
			return fmt.Errorf("%w: ES256 needs a P-256 ECDSA public key", ErrInvalidKey)
		}
		if _, err := pub.ECDH(); err != nil {
			return fmt.Errorf("%w: EC point is not on P-256", ErrInvalidKey)
		}
	default:
		return fmt.Errorf("%w: unsupported alg", ErrInvalidKey)
	}
	return nil
}

// buildKeySet indexes keys, which have each passed parseJWK.
func buildKeySet(keys []Key) (*KeySet, error) {
	if len(keys) == 0 {
		// An empty set verifies nothing; from a JWKS endpoint it means a broken or
		// hostile server, and the caller should keep its last good set.
		return nil, fmt.Errorf("%w: key set is empty", ErrInvalidKey)
	}
	ks := &KeySet{keys: keys, byID: make(map[string]Key, len(keys))}
	for _, k := range keys {
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate kid", ErrInvalidKey)
		}
		ks.byID[k.ID] = k
	}
	slices.SortFunc(ks.keys, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.Marshal(ks.JWKS())
	if err != nil {
		return nil, fmt.Errorf("%w: key set cannot be encoded", ErrInvalidKey)
	}
	ks.json = data
	return ks, nil
}

// Lookup returns a copy of the key with the given kid.
func (ks *KeySet) Lookup(kid string) (Key, bool) {
	k, ok := ks.lookup(kid)
	if !ok {
		return Key{}, false
	}
	return copyKey(k), true
}

// lookup returns the stored key itself; callers must not modify it.
func (ks *KeySet) lookup(kid string) (Key, bool) {
	if ks == nil {
		return Key{}, false
	}
	k, ok := ks.byID[kid]
	return k, ok
}

// Keys returns copies of all keys, sorted by kid.
func (ks *KeySet) Keys() []Key {
	if ks == nil {
		return nil
	}
	out := make([]Key, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = copyKey(k)
	}
	return out
}

// JWKS returns the keys as a go-jose key set, each with kid, alg and use "sig".
func (ks *KeySet) JWKS() jose.JSONWebKeySet {
	if ks == nil {
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(ks.keys))}
	for i, k := range ks.keys {
		set.Keys[i] = jwkOf(copyKey(k))
	}
	return set
}

// MarshalJSON returns the RFC 7517 JWK Set document, {"keys":[...]}.
func (ks *KeySet) MarshalJSON() ([]byte, error) {
	if ks == nil {
		return []byte(`{"keys":[]}`), nil
	}
	return bytes.Clone(ks.json), nil
}

func jwkOf(k Key) jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"}
}

// copyKey deep-copies the public key, so callers cannot change a KeySet's keys
// through what Lookup and Keys return.
func copyKey(k Key) Key {
	switch pub := k.Public.(type) {
	case ed25519.PublicKey:
		k.Public = ed25519.PublicKey(bytes.Clone(pub))
	case *ecdsa.PublicKey:
		k.Public = &ecdsa.PublicKey{
			Curve: pub.Curve, X: new(big.Int).Set(pub.X), Y: new(big.Int).Set(pub.Y),
		}
	}
	return k
}
