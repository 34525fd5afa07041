package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestUserRoundTrip(t *testing.T) {
	s := openTest(t)
	want := newUser("u1", "Alice")
	want.TokensNotBefore = t0.Add(time.Hour)
	want.TOTPLastStep = 59000000
	want.SecondFactorFailures = 3
	want.SecondFactorLockedUntil = t0.Add(time.Minute)
	update(t, s, func(tx *Tx) error { return tx.CreateUser(want) })

	view(t, s, func(tx *Tx) error {
		for name, get := range map[string]func() (*User, error){
			"User":           func() (*User, error) { return tx.User("u1") },
			"UserByUsername": func() (*User, error) { return tx.UserByUsername("alice") },
		} {
			got, err := get()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %+v\nwant %+v", name, got, want)
			}
		}
		return nil
	})
}

func TestUserWithoutSecretsRoundTrip(t *testing.T) {
	s := openTest(t)
	want := &User{ID: "u1", Username: "bob", PasswordHash: "x", CreatedAt: t0, Disabled: true}
	update(t, s, func(tx *Tx) error { return tx.CreateUser(want) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.User("u1")
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("User = %+v, want %+v", got, want)
		}
		return err
	})
}

func TestUsernameIsCaseInsensitive(t *testing.T) {
	tests := []struct {
		existing, name string
		taken          bool
	}{
		{"Alice", "alice", true},
		{"Alice", "ALICE", true},
		{"Alice", "Alice", true},
		{"Alice", "Alicia", false},
		{"sam", "ſam", true},      // U+017F LATIN SMALL LETTER LONG S
		{"kim", "\u212Aim", true}, // KELVIN SIGN
		{"ΣΑΣ", "σας", true},      // final sigma folds with sigma
		{"strasse", "straße", false},
	}
	for _, tt := range tests {
		t.Run(tt.existing+"/"+tt.name, func(t *testing.T) {
			s := openTest(t)
			update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("u1", tt.existing)) })

			err := s.Update(func(tx *Tx) error { return tx.CreateUser(newUser("u2", tt.name)) })
			if tt.taken != errors.Is(err, ErrUsernameTaken) {
				t.Fatalf("CreateUser(%q) = %v, taken should be %v", tt.name, err, tt.taken)
			}
			if !tt.taken && err != nil {
				t.Fatalf("CreateUser(%q) = %v", tt.name, err)
			}

			wantID := map[bool]string{true: "u1", false: "u2"}[tt.taken]
			view(t, s, func(tx *Tx) error {
				u, err := tx.UserByUsername(tt.name)
				if err == nil && u.ID != wantID {
					t.Errorf("UserByUsername(%q) = %s, want %s", tt.name, u.ID, wantID)
				}
				return err
			})
		})
	}
}

func TestCreateUserRefusesExistingID(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("u1", "alice")) })
	err := s.Update(func(tx *Tx) error { return tx.CreateUser(newUser("u1", "bob")) })
	if !errors.Is(err, ErrExists) {
		t.Errorf("CreateUser with a used id = %v, want ErrExists", err)
	}
	for _, id := range []string{"", "u/2"} {
		err = s.Update(func(tx *Tx) error { return tx.CreateUser(newUser(id, "carol")) })
		if err == nil {
			t.Errorf("CreateUser with id %q succeeded", id)
		}
	}
}

func TestPutUser(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("u1", "alice")) })

	err := s.Update(func(tx *Tx) error { return tx.PutUser(newUser("u2", "bob")) })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("PutUser on a missing id = %v, want ErrNotFound", err)
	}
	err = s.Update(func(tx *Tx) error { return tx.PutUser(newUser("u1", "alicia")) })
	if err == nil {
		t.Error("PutUser changed the username")
	}

	update(t, s, func(tx *Tx) error {
		u, err := tx.User("u1")
		if err != nil {
			return err
		}
		u.TOTP, u.PendingTOTP = u.PendingTOTP, nil
		u.TOTPLastStep = 42
		return tx.PutUser(u)
	})
	view(t, s, func(tx *Tx) error {
		u, err := tx.User("u1")
		if err != nil {
			return err
		}
		swapped := string(u.TOTP.Secret) == "pending-secret-of-u1" && u.PendingTOTP == nil
		if !swapped || u.TOTPLastStep != 42 {
			t.Errorf("after PutUser: totp %q, pending %v, last step %d",
				u.TOTP.Secret, u.PendingTOTP, u.TOTPLastStep)
		}
		return nil
	})
}

func TestConcurrentCreateSameUsername(t *testing.T) {
	s := openTest(t)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs <- s.Update(func(tx *Tx) error {
				// "Alice", "ALice", "ALIce", "ALICe", "ALICE": one name, five spellings.
				name := "ALICE"[:1+i%5] + "lice"[i%5:]
				return tx.CreateUser(newUser(fmt.Sprint("u", i), name))
			})
		})
	}
	wg.Wait()
	close(errs)

	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrUsernameTaken):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creations succeeded, want exactly 1", ok)
	}
}

func TestSessionRoundTrip(t *testing.T) {
	s := openTest(t)
	want := &Session{
		ID: "s1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour),
		EndedAt: t0.Add(time.Hour), EndReason: "logout",
	}
	update(t, s, func(tx *Tx) error { return tx.PutSession(want) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.Session("s1")
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Session = %+v, want %+v", got, want)
		}
		if _, err := tx.Session("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Session(nope) = %v, want ErrNotFound", err)
		}
		return err
	})
}

func TestRefreshTokenRoundTrip(t *testing.T) {
	s := openTest(t)
	hash := sha256.Sum256([]byte("opaque token"))
	want := &RefreshToken{
		Hash: hash[:], SessionID: "s1", UserID: "u1",
		IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), UsedAt: t0.Add(time.Minute),
	}
	update(t, s, func(tx *Tx) error { return tx.PutRefreshToken(want) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.RefreshToken(hash[:])
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("RefreshToken = %+v, want %+v", got, want)
		}
		other := sha256.Sum256([]byte("other"))
		for _, h := range [][]byte{other[:], nil, hash[:8]} {
			if _, err := tx.RefreshToken(h); !errors.Is(err, ErrNotFound) {
				t.Errorf("RefreshToken(%x) = %v, want ErrNotFound", h, err)
			}
		}
		return err
	})

	short := &RefreshToken{Hash: []byte("short"), SessionID: "s1"}
	if err := s.Update(func(tx *Tx) error { return tx.PutRefreshToken(short) }); err == nil {
		t.Error("PutRefreshToken accepted a hash that is not SHA-256 sized")
	}
}

func TestChallengeRoundTrip(t *testing.T) {
	s := openTest(t)
	want := &Challenge{
		ID: "c1", UserID: "u1", SessionID: "s1", Factor: 2, CreatedAt: t0,
		ExpiresAt: t0.Add(5 * time.Minute), Attempts: 2, ConsumedAt: t0.Add(time.Minute),
		CodeHash: []byte("hash"),
	}
	update(t, s, func(tx *Tx) error { return tx.PutChallenge(want) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.Challenge("c1")
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Challenge = %+v, want %+v", got, want)
		}
		if _, err := tx.Challenge("c2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Challenge(c2) = %v, want ErrNotFound", err)
		}
		return err
	})
}

// newKey returns a signing key created at t0 plus age.
func newKey(id string, age time.Duration) *SigningKey {
	return &SigningKey{
		ID: id, Alg: "EdDSA", Private: []byte("private-key-of-" + id),
		Public: []byte("public-" + id), State: KeyCurrent, CreatedAt: t0.Add(age),
		ActivateAt: t0, RetiredAt: t0.Add(time.Hour), RemoveAt: t0.Add(2 * time.Hour),
	}
}

func TestKeysOldestFirst(t *testing.T) {
	s := openTest(t)
	// Ids sort the other way round from creation times.
	keys := []*SigningKey{newKey("a", 3*time.Hour), newKey("c", time.Hour), newKey("b", 2*time.Hour)}
	update(t, s, func(tx *Tx) error {
		for _, k := range keys {
			if err := tx.PutKey(k); err != nil {
				return err
			}
		}
		return nil
	})

	view(t, s, func(tx *Tx) error {
		got, err := tx.Keys()
		if err != nil {
			return err
		}
		want := []*SigningKey{keys[1], keys[2], keys[0]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Keys = %+v\nwant %+v", got, want)
		}
		return nil
	})

	update(t, s, func(tx *Tx) error { return tx.DeleteKey("c") })
	err := s.Update(func(tx *Tx) error { return tx.DeleteKey("c") })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteKey = %v, want ErrNotFound", err)
	}
	view(t, s, func(tx *Tx) error {
		got, err := tx.Keys()
		if err == nil && (len(got) != 2 || got[0].ID != "b" || got[1].ID != "a") {
			t.Errorf("after DeleteKey(c), Keys = %v", got)
		}
		return err
	})
}

func TestUserSessions(t *testing.T) {
	s := openTest(t)
	sessions := []*Session{
		{ID: "s1", UserID: "u1", ExpiresAt: t0},
		{ID: "s2", UserID: "u2", ExpiresAt: t0},
		{ID: "s3", UserID: "u1", ExpiresAt: t0},
		{ID: "a/x", UserID: "u1", ExpiresAt: t0},
	}
	update(t, s, func(tx *Tx) error {
		for _, sess := range sessions {
			if err := tx.PutSession(sess); err != nil {
				return err
			}
		}
		return nil
	})
	assertUserSessions(t, s, "u1", "a/x", "s1", "s3")
	assertUserSessions(t, s, "u2", "s2")
	assertUserSessions(t, s, "u1/a")
	assertUserSessions(t, s, "u3")

	// A "/" in a user id would let ("u1/a", "x") and ("u1", "a/x") share an index key.
	err := s.Update(func(tx *Tx) error {
		return tx.PutSession(&Session{ID: "x", UserID: "u1/a", ExpiresAt: t0})
	})
	if err == nil {
		t.Error(`PutSession accepted a user id with "/"`)
	}

	// Moving a session to another user moves its index entry.
	update(t, s, func(tx *Tx) error {
		return tx.PutSession(&Session{ID: "s3", UserID: "u2", ExpiresAt: t0})
	})
	assertUserSessions(t, s, "u1", "a/x", "s1")
	assertUserSessions(t, s, "u2", "s2", "s3")
}

// assertUserSessions checks the ids UserSessions returns for a user, in order.
func assertUserSessions(t *testing.T, s *Store, userID string, want ...string) {
	t.Helper()
	view(t, s, func(tx *Tx) error {
		got, err := tx.UserSessions(userID)
		if err != nil {
			return err
		}
		var ids []string
		for _, sess := range got {
			ids = append(ids, sess.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("UserSessions(%s) = %v, want %v", userID, ids, want)
		}
		return nil
	})
}

func TestForEach(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error {
		for _, id := range []string{"u2", "u3", "u1"} {
			if err := tx.CreateUser(newUser(id, "name-"+id)); err != nil {
				return err
			}
			if err := tx.PutSession(&Session{ID: "s-" + id, UserID: id}); err != nil {
				return err
			}
		}
		return nil
	})

	var users, sessions bytes.Buffer
	stop := errors.New("stop")
	view(t, s, func(tx *Tx) error {
		err := tx.ForEachUser(func(u *User) error {
			fmt.Fprint(&users, u.ID, string(u.TOTP.Secret) != "", " ")
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.ForEachSession(func(sess *Session) error {
			sessions.WriteString(sess.ID + " ")
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("ForEachSession did not pass on fn's error: %v", err)
		}
		return nil
	})
	if got := users.String(); got != "u1true u2true u3true " {
		t.Errorf("ForEachUser visited %q, want ids in order with secrets opened", got)
	}
	if got := sessions.String(); got != "s-u1 " {
		t.Errorf("ForEachSession visited %q, want it to stop after the first", got)
	}
}

func TestRevokedTokens(t *testing.T) {
	s := openTest(t)
	now := time.Unix(1_700_000_000, 0).UTC()
	update(t, s, func(tx *Tx) error {
		if err := tx.PutRevokedToken(&RevokedToken{ID: "old", RelevantUntil: now.Add(-time.Minute)}); err != nil {
			return err
		}
		return tx.PutRevokedToken(&RevokedToken{ID: "live", RelevantUntil: now.Add(time.Minute)})
	})
	update(t, s, func(tx *Tx) error {
		n, err := tx.Purge(now)
		if err != nil || n != 1 {
			t.Errorf("Purge = %d, %v; want 1 record", n, err)
		}
		return nil
	})
	view(t, s, func(tx *Tx) error {
		if _, err := tx.RevokedToken("old"); !errors.Is(err, ErrNotFound) {
			t.Errorf("purged token: %v", err)
		}
		var ids []string
		err := tx.ForEachRevokedToken(func(r *RevokedToken) error { ids = append(ids, r.ID); return nil })
		if err != nil || len(ids) != 1 || ids[0] != "live" {
			t.Errorf("ForEachRevokedToken = %v, %v", ids, err)
		}
		return nil
	})
}

// TestUserStateLeavesSecretsSealed: UserState reads account state without the seeds.
func TestUserStateLeavesSecretsSealed(t *testing.T) {
	s := openTest(t)
	u := newUser("u_state", "state")
	u.TOTP = &TOTP{Secret: []byte("0123456789abcdefghij"), CreatedAt: time.Unix(1, 0)}
	update(t, s, func(tx *Tx) error { return tx.CreateUser(u) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.UserState("u_state")
		if err != nil || got.TOTP == nil || got.TOTP.Secret != nil || got.Username != "state" {
			t.Errorf("UserState = %+v, %v; want the record with the seed still sealed", got, err)
		}
		if _, err := tx.UserState("nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserState(unknown) = %v", err)
		}
		return nil
	})
}
