package store

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestPurge(t *testing.T) {
	s := openTest(t)
	cutoff := t0
	before, after := t0.Add(-time.Second), t0.Add(time.Hour)
	sessions := []*Session{
		{ID: "expired", UserID: "u1", ExpiresAt: before},
		{ID: "ended", UserID: "u1", ExpiresAt: after, EndedAt: before},
		{ID: "live", UserID: "u1", ExpiresAt: after},
		{ID: "ends-later", UserID: "u1", ExpiresAt: after, EndedAt: t0.Add(time.Second)},
		{ID: "expires-at-cutoff", UserID: "u2", ExpiresAt: cutoff},
	}
	refresh := []*RefreshToken{
		{Hash: hashOf("r-expired"), SessionID: "live", ExpiresAt: before},
		{Hash: hashOf("r-live"), SessionID: "live", ExpiresAt: after},
		{Hash: hashOf("r-of-ended"), SessionID: "ended", ExpiresAt: after},
	}
	challenges := []*Challenge{
		{ID: "c-expired", SessionID: "live", ExpiresAt: before},
		{ID: "c-live", SessionID: "live", ExpiresAt: after},
		{ID: "c-of-expired", SessionID: "expired", ExpiresAt: after},
	}
	update(t, s, func(tx *Tx) error {
		var errs []error
		for _, x := range sessions {
			errs = append(errs, tx.PutSession(x))
		}
		for _, x := range refresh {
			errs = append(errs, tx.PutRefreshToken(x))
		}
		for _, x := range challenges {
			errs = append(errs, tx.PutChallenge(x))
		}
		return errors.Join(errs...)
	})

	var n int
	update(t, s, func(tx *Tx) (err error) { n, err = tx.Purge(cutoff); return err })
	if n != 6 {
		t.Errorf("Purge deleted %d records, want 6", n)
	}

	view(t, s, func(tx *Tx) error {
		for id, keep := range map[string]bool{
			"expired": false, "ended": false, "live": true, "ends-later": true,
			"expires-at-cutoff": true,
		} {
			_, err := tx.Session(id)
			assertKept(t, "session "+id, keep, err)
		}
		for name, keep := range map[string]bool{
			"r-expired": false, "r-live": true, "r-of-ended": false,
		} {
			_, err := tx.RefreshToken(hashOf(name))
			assertKept(t, "refresh token "+name, keep, err)
		}
		for id, keep := range map[string]bool{
			"c-expired": false, "c-live": true, "c-of-expired": false,
		} {
			_, err := tx.Challenge(id)
			assertKept(t, "challenge "+id, keep, err)
		}
		return nil
	})
	assertUserSessions(t, s, "u1", "ends-later", "live")

	update(t, s, func(tx *Tx) (err error) { n, err = tx.Purge(cutoff); return err })
	if n != 0 {
		t.Errorf("a second Purge deleted %d records, want 0", n)
	}
}

// hashOf returns the SHA-256 of a refresh token.
func hashOf(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// assertKept checks that a lookup found the record when it should be kept and gave
// ErrNotFound when it should be gone.
func assertKept(t *testing.T, what string, keep bool, err error) {
	t.Helper()
	switch {
	case keep && err != nil:
		t.Errorf("%s: %v, want it kept", what, err)
	case !keep && !errors.Is(err, ErrNotFound):
		t.Errorf("%s: %v, want it purged", what, err)
	}
}
