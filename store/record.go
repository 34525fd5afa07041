package store

import (
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// getJSON decodes the record at key into v, or returns ErrNotFound. what names the
// record in errors and must not hold anything secret.
func getJSON(b *bbolt.Bucket, key []byte, what string, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return ErrNotFound
	}
	return decode(raw, what, v)
}

// decode unmarshals a stored record.
func decode(raw []byte, what string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	return nil
}

// putJSON stores v as JSON at key.
func putJSON(b *bbolt.Bucket, key []byte, what string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", what, err)
	}
	if err := b.Put(key, raw); err != nil {
		return fmt.Errorf("store: write %s: %w", what, err)
	}
	return nil
}

// forEachJSON decodes every record of b into a fresh T and calls fn with it.
func forEachJSON[T any](b *bbolt.Bucket, kind string, fn func(*T) error) error {
	return b.ForEach(func(k, raw []byte) error {
		rec := new(T)
		if err := decode(raw, kind+" "+string(k), rec); err != nil {
			return err
		}
		return fn(rec)
	})
}
