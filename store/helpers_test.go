package store

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// t0 is a fixed instant; records use UTC times without monotonic readings so that
// reflect.DeepEqual compares them after a JSON round trip.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testKey returns a master key made of one repeated byte.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// newPath returns a database path in a fresh temporary directory.
func newPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "stepup.db")
}

// openAt opens the store at path with key, and on cleanup closes it, reopens the file
// and runs Check on it.
func openAt(t *testing.T, path string, key []byte) *Store {
	t.Helper()
	s, err := Open(path, Options{MasterKey: key, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeAndCheck(t, s, key) })
	return s
}

// openTest opens a store on a new file with the default test key.
func openTest(t *testing.T) *Store {
	t.Helper()
	return openAt(t, newPath(t), testKey(1))
}

// closeAndCheck closes s (a no-op when the test already did) and checks the file.
func closeAndCheck(t *testing.T, s *Store, key []byte) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	again, err := Open(s.Path(), Options{MasterKey: key, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Errorf("reopen for check: %v", err)
		return
	}
	defer again.Close()
	if err := again.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// update runs fn in an Update and fails the test on error.
func update(t *testing.T, s *Store, fn func(*Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in a View and fails the test on error.
func view(t *testing.T, s *Store, fn func(*Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// newUser returns a user with both TOTP secrets and recovery codes set.
func newUser(id, name string) *User {
	return &User{
		ID:           id,
		Username:     name,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:    t0,
		TOTP:         &TOTP{Secret: []byte("totp-secret-of-" + id), CreatedAt: t0},
		PendingTOTP:  &TOTP{Secret: []byte("pending-secret-of-" + id), CreatedAt: t0},
		RecoveryCodes: &RecoveryCodeSet{
			Salt:      []byte("salt"),
			CreatedAt: t0,
			Codes:     []RecoveryCode{{Hash: []byte("h1")}, {Hash: []byte("h2"), UsedAt: t0}},
		},
	}
}

// editRaw rewrites the JSON record at key in bucket through fn, bypassing the sealing.
func editRaw(t *testing.T, s *Store, bucket, key []byte, fn func(map[string]any)) {
	t.Helper()
	err := s.db.Update(func(btx *bbolt.Tx) error {
		b := btx.Bucket(bucket)
		var rec map[string]any
		if err := json.Unmarshal(b.Get(key), &rec); err != nil {
			return err
		}
		fn(rec)
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
	if err != nil {
		t.Fatalf("editRaw: %v", err)
	}
}
