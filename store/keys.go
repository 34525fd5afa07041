package store

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// fieldPrivate names the sealed private key in its additional data.
const fieldPrivate = "private"

// PutKey creates or replaces a signing key. The private key is sealed; the caller's
// struct is not changed.
func (tx *Tx) PutKey(k *SigningKey) error {
	if k.ID == "" || len(k.Private) == 0 {
		return errors.New("store: a signing key needs an id and a private key")
	}
	keys, err := tx.bucket(bucketKeys)
	if err != nil {
		return err
	}

	sealed, err := tx.s.seal(k.Private, sealAD(bucketKeys, k.ID, fieldPrivate))
	if err != nil {
		return err
	}
	rec := *k
	rec.Private, rec.SealedPrivate = nil, sealed
	return putJSON(keys, []byte(k.ID), "key "+k.ID, &rec)
}

// Keys lists every signing key, oldest first by CreatedAt, then by id.
func (tx *Tx) Keys() ([]*SigningKey, error) {
	keys, err := tx.bucket(bucketKeys)
	if err != nil {
		return nil, err
	}

	var out []*SigningKey
	err = forEachJSON(keys, "key", func(k *SigningKey) error {
		if err := tx.openKey(k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, err
	}

	slices.SortFunc(out, func(a, b *SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteKey removes a signing key, or returns ErrNotFound.
func (tx *Tx) DeleteKey(id string) error {
	keys, err := tx.bucket(bucketKeys)
	if err != nil {
		return err
	}
	if keys.Get([]byte(id)) == nil {
		return ErrNotFound
	}
	if err := keys.Delete([]byte(id)); err != nil {
		return fmt.Errorf("store: delete key %s: %w", id, err)
	}
	return nil
}

// openKey opens k.SealedPrivate into k.Private.
func (tx *Tx) openKey(k *SigningKey) error {
	private, err := tx.s.open(k.SealedPrivate, sealAD(bucketKeys, k.ID, fieldPrivate))
	if err != nil {
		return fmt.Errorf("%w: key %s: sealed private key does not open", ErrCorrupt, k.ID)
	}
	k.Private, k.SealedPrivate = private, nil
	return nil
}
