package store

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// adPrefix starts the additional data of every sealed value; the version lets a future
// layout change the format without old ciphertexts opening under the new meaning.
const adPrefix = "stepup/v1|"

// errOpen is what open returns; callers wrap ErrCorrupt with the record and field.
var errOpen = errors.New("authentication failed")

// newAEAD checks the master key and builds the cipher from it.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d",
			ErrBadMasterKey, chacha20poly1305.KeySize, len(key))
	}
	return chacha20poly1305.NewX(key)
}

// sealAD is the additional data for one field of one record, such as
// "stepup/v1|users|<id>|totp". Field names contain no "|", so the id and field can be
// read back unambiguously even when an id does.
func sealAD(bucket []byte, id, field string) []byte {
	return []byte(adPrefix + string(bucket) + "|" + id + "|" + field)
}

// seal encrypts plain under the master key, bound to ad, with a random 24-byte nonce
// prepended. XChaCha20's nonce is long enough that random nonces never repeat in
// practice.
func (s *Store) seal(plain, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	out := make([]byte, n, n+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return s.aead.Seal(out, out, plain, ad), nil
}

// open reverses seal. It fails when the value was sealed under another key or ad, or
// was altered.
func (s *Store) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}
