package store

import "time"

// RevokedToken is an access token revoked by its jti before it expired.
type RevokedToken struct {
	ID string `json:"id"` // jti
	// RelevantUntil is when every token with this jti has expired anyway; Purge deletes
	// the record after it.
	RelevantUntil time.Time `json:"relevant_until"`
	RevokedAt     time.Time `json:"revoked_at"`
}

// PutRevokedToken records a revoked jti.
func (tx *Tx) PutRevokedToken(r *RevokedToken) error {
	b, err := tx.bucket(bucketRevoked)
	if err != nil {
		return err
	}
	return putJSON(b, []byte(r.ID), "revoked token "+r.ID, r)
}

// RevokedToken loads a revoked jti, or ErrNotFound.
func (tx *Tx) RevokedToken(id string) (*RevokedToken, error) {
	b, err := tx.bucket(bucketRevoked)
	if err != nil {
		return nil, err
	}
	r := new(RevokedToken)
	if err := getJSON(b, []byte(id), "revoked token "+id, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ForEachRevokedToken calls fn for each revoked jti, stopping at the first error.
func (tx *Tx) ForEachRevokedToken(fn func(*RevokedToken) error) error {
	b, err := tx.bucket(bucketRevoked)
	if err != nil {
		return err
	}
	return forEachJSON(b, "revoked token", fn)
}
