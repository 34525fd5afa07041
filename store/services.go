package store

import (
	"bytes"
	"errors"
	"time"
)

// Service is a registered service: a caller that gets service tokens and exchanges
// user tokens. A removed service keeps a record with RemovedAt set, so revocation
// snapshots can list it while its tokens may still be unexpired.
type Service struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// SecretHash is the SHA-256 of the secret; empty when the service has none. The
	// secret is 256 random bits, so a plain hash cannot be reversed by guessing.
	SecretHash      []byte    `json:"secret_hash,omitempty"`
	SecretRotatedAt time.Time `json:"secret_rotated_at,omitzero"`
	// JWKS is the JWK Set of public keys that verify the service's client assertions.
	JWKS string `json:"jwks,omitempty"`
	// RemovedAt is when the service was removed; zero while it is registered.
	RemovedAt time.Time `json:"removed_at,omitzero"`
}

// Active reports whether the service is registered (not removed).
func (s *Service) Active() bool { return s.RemovedAt.IsZero() }

// CreateService stores a new service, replacing the record of a removed one of the
// same name. ErrExists if an active service has that name.
func (tx *Tx) CreateService(s *Service) error {
	old, err := tx.Service(s.Name)
	if err == nil && old.Active() {
		return ErrExists
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return tx.PutService(s)
}

// Service loads a service by name, removed or not, or ErrNotFound.
func (tx *Tx) Service(name string) (*Service, error) {
	b, err := tx.bucket(bucketServices)
	if err != nil {
		return nil, err
	}
	s := new(Service)
	if err := getJSON(b, []byte(name), "service "+name, s); err != nil {
		return nil, err
	}
	return s, nil
}

// PutService writes a service record.
func (tx *Tx) PutService(s *Service) error {
	if s.Name == "" {
		return errors.New("store: a service needs a name")
	}
	b, err := tx.bucket(bucketServices)
	if err != nil {
		return err
	}
	return putJSON(b, []byte(s.Name), "service "+s.Name, s)
}

// ForEachService calls fn for each service record, removed ones included, in name
// order, stopping at the first error.
func (tx *Tx) ForEachService(fn func(*Service) error) error {
	b, err := tx.bucket(bucketServices)
	if err != nil {
		return err
	}
	return forEachJSON(b, "service", fn)
}

// UseAssertionID records that a client assertion's jti was used, until exp. It
// returns ErrExists if the jti was already used by that service and has not expired
// yet at now (RFC 7523 section 3, rule 7). Expired ids of the same service are
// deleted on the way, so the bucket holds at most the assertions of the last few
// minutes.
func (tx *Tx) UseAssertionID(service, jti string, exp, now time.Time) error {
	b, err := tx.bucket(bucketServiceJTIs)
	if err != nil {
		return err
	}
	prefix := []byte(service + "/")
	key := append(bytes.Clone(prefix), jti...)
	var doomed [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var until time.Time
		if err := until.UnmarshalText(v); err != nil || now.After(until) {
			doomed = append(doomed, bytes.Clone(k))
		} else if bytes.Equal(k, key) {
			return ErrExists
		}
	}
	if err := deleteKeys(b, doomed); err != nil {
		return err
	}
	until, err := exp.UTC().MarshalText()
	if err != nil {
		return err
	}
	return b.Put(key, until)
}
