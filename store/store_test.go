package store

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	s := openTest(t)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o, want 0600", perm)
	}
	if s.db.NoSync {
		t.Error("NoSync is set: Update would return before the write is durable")
	}
}

// bbolt's flock is per open file description, so a second Open in the same process
// contends exactly like a second stepupd would.
func TestSecondOpenFailsFastWithErrLocked(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration // the effective timeout
	}{
		{"default", 0, time.Second},
		{"explicit", 200 * time.Millisecond, 200 * time.Millisecond},
	}
	path := newPath(t)
	openAt(t, path, testKey(1))

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(path, Options{MasterKey: testKey(1), Timeout: tt.timeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("second Open succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("err = %v, want ErrLocked", err)
			}
			if elapsed > 2*tt.want {
				t.Errorf("took %v, want under %v", elapsed, 2*tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "another stepupd") {
				t.Errorf("message %q should name the path and the likely cause", msg)
			}
		})
	}
}

func TestWrongMasterKeyFailsAtOpen(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path, testKey(1))
	s.Close()

	for _, key := range [][]byte{testKey(2), nil, testKey(1)[:31], append(testKey(1), 1)} {
		s, err := Open(path, Options{MasterKey: key})
		if err == nil {
			s.Close()
			t.Fatalf("Open with a %d-byte wrong key succeeded", len(key))
		}
		if !errors.Is(err, ErrBadMasterKey) {
			t.Errorf("%d-byte key: err = %v, want ErrBadMasterKey", len(key), err)
		}
	}
}

// rawUpdate changes the file behind the store's back: s must be closed.
func rawUpdate(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesBadMeta(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(meta *bbolt.Bucket) error
		wantErr error  // nil: only the message is checked
		wantMsg string // substring
	}{
		{"newer schema", func(m *bbolt.Bucket) error {
			return m.Put(metaSchemaVersion, []byte("2"))
		}, nil, "newer than this stepupd"},
		{"garbled schema", func(m *bbolt.Bucket) error {
			return m.Put(metaSchemaVersion, []byte("one"))
		}, ErrCorrupt, "schema version"},
		{"no key check", func(m *bbolt.Bucket) error {
			return m.Delete(metaKeyCheck)
		}, ErrCorrupt, "key check"},
		{"tampered key check", func(m *bbolt.Bucket) error {
			v := append([]byte(nil), m.Get(metaKeyCheck)...)
			v[len(v)-1] ^= 1
			return m.Put(metaKeyCheck, v)
		}, ErrBadMasterKey, "key check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The file is broken on purpose, so it gets no cleanup check.
			path := newPath(t)
			s, err := Open(path, Options{MasterKey: testKey(1)})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			rawUpdate(t, path, func(btx *bbolt.Tx) error { return tt.edit(btx.Bucket(bucketMeta)) })

			s2, err := Open(path, Options{MasterKey: testKey(1)})
			if err == nil {
				s2.Close()
				t.Fatal("Open succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	t.Run("other bbolt database", func(t *testing.T) {
		path := newPath(t)
		rawUpdate(t, path, func(btx *bbolt.Tx) error {
			_, err := btx.CreateBucket([]byte("somebody_else"))
			return err
		})
		if _, err := Open(path, Options{MasterKey: testKey(1)}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("not bbolt at all", func(t *testing.T) {
		path := newPath(t)
		junk := []byte(strings.Repeat("not a database ", 2000))
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, Options{MasterKey: testKey(1)}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt", err)
		}
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path, testKey(1))
	update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("u1", "alice")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, testKey(1))
	view(t, s, func(tx *Tx) error {
		u, err := tx.UserByUsername("alice")
		if err != nil {
			return err
		}
		if string(u.TOTP.Secret) != "totp-secret-of-u1" {
			t.Errorf("TOTP secret after reopen = %q", u.TOTP.Secret)
		}
		return nil
	})
}

func TestUpdateErrorRollsBack(t *testing.T) {
	s := openTest(t)
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.CreateUser(newUser("u1", "alice")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	assertNoUser(t, s, "u1", "alice")
}

func TestUpdatePanicRollsBackAndReleasesWriter(t *testing.T) {
	s := openTest(t)
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(func(tx *Tx) error {
			_ = tx.CreateUser(newUser("u1", "alice"))
			panic("boom")
		})
	}()

	done := make(chan error, 1)
	go func() { done <- s.Update(func(tx *Tx) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write lock is still held after a panic in Update")
	}
	assertNoUser(t, s, "u1", "alice")
}

// assertNoUser fails unless neither the id nor the username is stored.
func assertNoUser(t *testing.T, s *Store, id, name string) {
	t.Helper()
	view(t, s, func(tx *Tx) error {
		if _, err := tx.User(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("User(%s) = %v, want ErrNotFound", id, err)
		}
		if _, err := tx.UserByUsername(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserByUsername(%s) = %v, want ErrNotFound", name, err)
		}
		return nil
	})
}

func TestUpdateAfterCloseFails(t *testing.T) {
	s := openTest(t)
	s.Close()
	if err := s.Update(func(tx *Tx) error { return nil }); err == nil {
		t.Error("Update on a closed store returned nil")
	}
}

func TestTxUnusableAfterItEnds(t *testing.T) {
	s := openTest(t)
	var leaked *Tx
	update(t, s, func(tx *Tx) error { leaked = tx; return nil })
	if _, err := leaked.User("u1"); !errors.Is(err, bbolt.ErrTxClosed) {
		t.Errorf("User on an ended Tx = %v, want ErrTxClosed", err)
	}
}

func TestViewCannotWrite(t *testing.T) {
	s := openTest(t)
	err := s.View(func(tx *Tx) error { return tx.CreateUser(newUser("u1", "alice")) })
	if !errors.Is(err, bbolt.ErrTxNotWritable) {
		t.Errorf("CreateUser in View = %v, want ErrTxNotWritable", err)
	}
}
