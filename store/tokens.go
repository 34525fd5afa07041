package store

import (
	"crypto/sha256"
	"fmt"
)

// PutRefreshToken creates or replaces a refresh token record, keyed by its Hash, which
// must be a SHA-256 digest.
func (tx *Tx) PutRefreshToken(r *RefreshToken) error {
	if len(r.Hash) != sha256.Size {
		return fmt.Errorf("store: refresh token hash is %d bytes, want %d", len(r.Hash), sha256.Size)
	}
	refresh, err := tx.bucket(bucketRefresh)
	if err != nil {
		return err
	}
	return putJSON(refresh, r.Hash, "refresh token of session "+r.SessionID, r)
}

// RefreshToken loads a refresh token by hash, or ErrNotFound.
func (tx *Tx) RefreshToken(hash []byte) (*RefreshToken, error) {
	refresh, err := tx.bucket(bucketRefresh)
	if err != nil {
		return nil, err
	}
	if len(hash) != sha256.Size {
		return nil, ErrNotFound
	}
	// The hash stays out of error messages: it identifies a live credential.
	r := new(RefreshToken)
	if err := getJSON(refresh, hash, "refresh token", r); err != nil {
		return nil, err
	}
	return r, nil
}

// PutChallenge creates or replaces a challenge.
func (tx *Tx) PutChallenge(c *Challenge) error {
	challenges, err := tx.bucket(bucketChallenges)
	if err != nil {
		return err
	}
	return putJSON(challenges, []byte(c.ID), "challenge "+c.ID, c)
}

// Challenge loads a challenge, or ErrNotFound.
func (tx *Tx) Challenge(id string) (*Challenge, error) {
	challenges, err := tx.bucket(bucketChallenges)
	if err != nil {
		return nil, err
	}
	c := new(Challenge)
	if err := getJSON(challenges, []byte(id), "challenge "+id, c); err != nil {
		return nil, err
	}
	return c, nil
}
