package store

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestCodeKey: the key is made on first use in a write transaction, is the same after
// a reopen, and is on disk only sealed.
func TestCodeKey(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path, testKey(1))
	err := s.View(func(tx *Tx) error {
		_, err := tx.CodeKey()
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("CodeKey in a read-only transaction before creation: %v", err)
	}
	var first []byte
	update(t, s, func(tx *Tx) (err error) {
		first, err = tx.CodeKey()
		return err
	})
	if len(first) != codeKeySize {
		t.Fatalf("key of %d bytes", len(first))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil || bytes.Contains(raw, first) {
		t.Fatalf("the key is in the file in clear (err %v)", err)
	}

	s = openAt(t, path, testKey(1))
	view(t, s, func(tx *Tx) error {
		again, err := tx.CodeKey()
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("after reopen: %x, %v", again, err)
		}
		return nil
	})
}

func TestSendLog(t *testing.T) {
	s := openTest(t)
	view(t, s, func(tx *Tx) error {
		l, err := tx.SendLog("user|u_1")
		if err != nil || len(l.Sent) != 0 || l.Open != "" {
			t.Fatalf("missing log: %+v, %v", l, err)
		}
		return nil
	})
	want := &SendLog{Sent: []time.Time{t0, t0.Add(time.Minute)}, Open: "ch_1"}
	update(t, s, func(tx *Tx) error { return tx.PutSendLog("user|u_1", want) })
	update(t, s, func(tx *Tx) error {
		return tx.PutSendLog("dest|old", &SendLog{Sent: []time.Time{t0.Add(-2 * time.Hour)}})
	})
	view(t, s, func(tx *Tx) error {
		got, err := tx.SendLog("user|u_1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("SendLog = %+v, %v", got, err)
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.PutSendLog("", want) }); err == nil {
		t.Fatal("empty key accepted")
	}

	var n int
	update(t, s, func(tx *Tx) (err error) {
		n, err = tx.PurgeSendLogs(t0.Add(-time.Hour))
		return err
	})
	if n != 1 {
		t.Fatalf("purged %d logs, want 1", n)
	}
	view(t, s, func(tx *Tx) error {
		if l, _ := tx.SendLog("user|u_1"); len(l.Sent) != 2 {
			t.Fatal("a current log was purged")
		}
		if l, _ := tx.SendLog("dest|old"); len(l.Sent) != 0 {
			t.Fatal("an old log survived")
		}
		return nil
	})
}
