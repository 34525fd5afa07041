package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Check verifies the file: bbolt's own page and freelist consistency check, then the
// store's indexes (every user has its username entry and every session its
// user_sessions entry, and no entry points nowhere). It returns every problem found,
// joined, or nil. It is meant for tests and for checking a file after a crash.
func (s *Store) Check() error {
	return s.db.View(func(btx *bbolt.Tx) error {
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		errs = append(errs, checkUsernames(btx)...)
		errs = append(errs, checkSessionIndex(btx)...)
		return errors.Join(errs...)
	})
}

// checkUsernames compares the usernames index with the users bucket.
func checkUsernames(btx *bbolt.Tx) []error {
	users, names := btx.Bucket(bucketUsers), btx.Bucket(bucketUsernames)
	if users == nil || names == nil {
		return []error{fmt.Errorf("%w: user buckets missing", ErrCorrupt)}
	}

	var errs []error
	_ = users.ForEach(func(id, raw []byte) error {
		var u struct {
			Username string `json:"username"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			errs = append(errs, fmt.Errorf("%w: user %s: %v", ErrCorrupt, id, err))
		} else if got := names.Get(usernameKey(u.Username)); !bytes.Equal(got, id) {
			errs = append(errs, fmt.Errorf("%w: user %s has no username index entry", ErrCorrupt, id))
		}
		return nil
	})
	if nu, nn := users.Stats().KeyN, names.Stats().KeyN; nu != nn {
		errs = append(errs, fmt.Errorf("%w: %d users but %d username index entries", ErrCorrupt, nu, nn))
	}
	return errs
}

// checkSessionIndex compares the user_sessions index with the sessions bucket.
func checkSessionIndex(btx *bbolt.Tx) []error {
	sessions, index := btx.Bucket(bucketSessions), btx.Bucket(bucketUserSessions)
	if sessions == nil || index == nil {
		return []error{fmt.Errorf("%w: session buckets missing", ErrCorrupt)}
	}

	var errs []error
	_ = sessions.ForEach(func(id, raw []byte) error {
		var s Session
		if err := json.Unmarshal(raw, &s); err != nil {
			errs = append(errs, fmt.Errorf("%w: session %s: %v", ErrCorrupt, id, err))
		} else if !hasKey(index, sessionIndexKey(s.UserID, s.ID)) {
			errs = append(errs, fmt.Errorf("%w: session %s has no index entry", ErrCorrupt, id))
		}
		return nil
	})
	if ns, ni := sessions.Stats().KeyN, index.Stats().KeyN; ns != ni {
		errs = append(errs, fmt.Errorf("%w: %d sessions but %d index entries", ErrCorrupt, ns, ni))
	}
	return errs
}

// hasKey reports whether b holds key. Get cannot tell: it returns nil for a missing key
// and may for an empty value too.
func hasKey(b *bbolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}
