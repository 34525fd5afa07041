package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestSecretsNeverReachTheFile(t *testing.T) {
	s := openTest(t)
	u := newUser("u1", "alice")
	u.TOTP.Secret = []byte("TOTP-SEED-1234567890abcdef")
	u.PendingTOTP.Secret = []byte("PENDING-SEED-1234567890abcdef")
	k := newKey("k1", 0)
	k.Private = []byte("PKCS8-PRIVATE-KEY-1234567890abcdef")
	update(t, s, func(tx *Tx) error {
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		return tx.PutKey(k)
	})
	// A second version of each record, so that freed pages are in the file too.
	update(t, s, func(tx *Tx) error {
		if err := tx.PutUser(u); err != nil {
			return err
		}
		return tx.PutKey(k)
	})
	s.Close()

	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"username":"alice"`)) {
		t.Fatal("the user record is not in the file as JSON; this test reads the wrong bytes")
	}
	for _, secret := range [][]byte{u.TOTP.Secret, u.PendingTOTP.Secret, k.Private} {
		// JSON would write a []byte as base64, so look for that form too.
		b64 := []byte(base64.StdEncoding.EncodeToString(secret))
		if bytes.Contains(raw, secret) || bytes.Contains(raw, b64) {
			t.Errorf("secret %q is in the database file", secret)
		}
	}
}

func TestWriteLeavesCallerStructAlone(t *testing.T) {
	s := openTest(t)
	u, k := newUser("u1", "alice"), newKey("k1", 0)
	totp, pending, private := u.TOTP, u.PendingTOTP, k.Private
	update(t, s, func(tx *Tx) error {
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		return tx.PutKey(k)
	})

	if u.TOTP != totp || u.PendingTOTP != pending || !bytes.Equal(k.Private, private) {
		t.Error("a write replaced the caller's secrets")
	}
	if string(u.TOTP.Secret) != "totp-secret-of-u1" || u.TOTP.SealedSecret != nil ||
		u.PendingTOTP.SealedSecret != nil || k.SealedPrivate != nil {
		t.Error("a write changed the caller's struct")
	}
}

func TestEmptySecretsAreRefused(t *testing.T) {
	s := openTest(t)
	u := newUser("u1", "alice")
	u.TOTP.Secret = nil
	k := newKey("k1", 0)
	k.Private = nil
	if err := s.Update(func(tx *Tx) error { return tx.CreateUser(u) }); err == nil {
		t.Error("CreateUser stored an empty TOTP secret")
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutKey(k) }); err == nil {
		t.Error("PutKey stored an empty private key")
	}
}

// sealedField returns a pointer to the map that holds a record's sealed field and the
// field's JSON name, for one of the sealed fields of users and keys.
func sealedField(rec map[string]any, field string) (map[string]any, string) {
	if field == fieldPrivate {
		return rec, "sealed_private"
	}
	return rec[field].(map[string]any), "sealed_secret"
}

func TestMovedSealedValueDoesNotOpen(t *testing.T) {
	tests := []struct {
		name           string
		bucket         []byte
		fromID, fromF  string
		toID, toF      string
		read           func(tx *Tx) error
		secretInResult string
	}{
		{"totp to another user", bucketUsers, "u1", fieldTOTP, "u2", fieldTOTP,
			func(tx *Tx) error { _, err := tx.User("u2"); return err }, "totp-secret-of-u1"},
		{"totp into pending of the same user", bucketUsers, "u1", fieldTOTP, "u1", fieldPendingTOTP,
			func(tx *Tx) error { _, err := tx.UserByUsername("alice"); return err }, "totp-secret-of-u1"},
		{"pending to another user", bucketUsers, "u1", fieldPendingTOTP, "u2", fieldPendingTOTP,
			func(tx *Tx) error { return tx.ForEachUser(func(*User) error { return nil }) },
			"pending-secret-of-u1"},
		{"private key to another kid", bucketKeys, "k1", fieldPrivate, "k2", fieldPrivate,
			func(tx *Tx) error { _, err := tx.Keys(); return err }, "private-key-of-k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			update(t, s, func(tx *Tx) error {
				return errors.Join(tx.CreateUser(newUser("u1", "alice")),
					tx.CreateUser(newUser("u2", "bob")),
					tx.PutKey(newKey("k1", 0)), tx.PutKey(newKey("k2", 1)))
			})

			var sealed any
			editRaw(t, s, tt.bucket, []byte(tt.fromID), func(rec map[string]any) {
				m, name := sealedField(rec, tt.fromF)
				sealed = m[name]
			})
			editRaw(t, s, tt.bucket, []byte(tt.toID), func(rec map[string]any) {
				m, name := sealedField(rec, tt.toF)
				m[name] = sealed
			})

			err := s.View(tt.read)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read = %v, want ErrCorrupt", err)
			}
			if strings.Contains(err.Error(), tt.secretInResult) {
				t.Errorf("the error %q shows the secret", err)
			}
		})
	}
}

func TestTamperedSealedValueDoesNotOpen(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("u1", "alice")) })
	editRaw(t, s, bucketUsers, []byte("u1"), func(rec map[string]any) {
		m := rec[fieldTOTP].(map[string]any)
		sealed, _ := base64.StdEncoding.DecodeString(m["sealed_secret"].(string))
		sealed[len(sealed)/2] ^= 0x80
		m["sealed_secret"] = sealed
	})
	err := s.View(func(tx *Tx) error { _, err := tx.User("u1"); return err })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("User = %v, want ErrCorrupt", err)
	}
}
