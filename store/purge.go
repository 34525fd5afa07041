package store

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Purge deletes challenges, refresh tokens and sessions that ended or expired before
// cutoff, and returns how many records it deleted. Refresh tokens and challenges of a
// purged session go with it, whatever their own expiry, so none is left pointing at a
// session that no longer exists.
func (tx *Tx) Purge(cutoff time.Time) (int, error) {
	gone, err := tx.purgeSessions(cutoff)
	if err != nil {
		return 0, err
	}

	refresh, err := purgeWhere(tx, bucketRefresh, "refresh token", func(r *RefreshToken) bool {
		return r.ExpiresAt.Before(cutoff) || gone[r.SessionID]
	})
	if err != nil {
		return 0, err
	}

	challenges, err := purgeWhere(tx, bucketChallenges, "challenge", func(c *Challenge) bool {
		return c.ExpiresAt.Before(cutoff) || gone[c.SessionID]
	})
	if err != nil {
		return 0, err
	}
	revoked, err := purgeWhere(tx, bucketRevoked, "revoked token", func(r *RevokedToken) bool {
		return r.RelevantUntil.Before(cutoff)
	})
	if err != nil {
		return 0, err
	}
	return len(gone) + refresh + challenges + revoked, nil
}

// purgeSessions deletes the sessions that expired or ended before cutoff, with their
// index entries, and returns their ids.
func (tx *Tx) purgeSessions(cutoff time.Time) (map[string]bool, error) {
	gone := make(map[string]bool)
	var indexKeys [][]byte
	_, err := purgeWhere(tx, bucketSessions, "session", func(s *Session) bool {
		ended := !s.EndedAt.IsZero() && s.EndedAt.Before(cutoff)
		if !ended && !s.ExpiresAt.Before(cutoff) {
			return false
		}
		gone[s.ID] = true
		indexKeys = append(indexKeys, sessionIndexKey(s.UserID, s.ID))
		return true
	})
	if err != nil {
		return nil, err
	}

	index, err := tx.bucket(bucketUserSessions)
	if err != nil {
		return nil, err
	}
	if err := deleteKeys(index, indexKeys); err != nil {
		return nil, err
	}
	return gone, nil
}

// purgeWhere deletes the records of a bucket for which drop returns true, and counts
// them. Keys are collected first because deleting under a running cursor skips records.
func purgeWhere[T any](tx *Tx, name []byte, kind string, drop func(*T) bool) (int, error) {
	b, err := tx.bucket(name)
	if err != nil {
		return 0, err
	}

	var doomed [][]byte
	err = b.ForEach(func(k, raw []byte) error {
		rec := new(T)
		if err := decode(raw, kind, rec); err != nil {
			return err
		}
		if drop(rec) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(doomed), deleteKeys(b, doomed)
}

// deleteKeys deletes keys from b.
func deleteKeys(b *bbolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("store: purge: %w", err)
		}
	}
	return nil
}
