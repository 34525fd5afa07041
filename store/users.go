package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"go.etcd.io/bbolt"
)

// Field names in the additional data of user secrets.
const (
	fieldTOTP        = "totp"
	fieldPendingTOTP = "pending_totp"
)

// CreateUser stores a new user. ErrUsernameTaken if the username (compared after
// Unicode case folding) is in use; ErrExists if the id is. The id must not contain "/"
// (see PutSession).
func (tx *Tx) CreateUser(u *User) error {
	if !validUserID(u.ID) || u.Username == "" {
		return errors.New(`store: a user needs an id without "/" and a username`)
	}
	users, names, err := tx.userBuckets()
	if err != nil {
		return err
	}

	if users.Get([]byte(u.ID)) != nil {
		return ErrExists
	}
	name := usernameKey(u.Username)
	if names.Get(name) != nil {
		return ErrUsernameTaken
	}

	if err := tx.putUser(users, u); err != nil {
		return err
	}
	if err := names.Put(name, []byte(u.ID)); err != nil {
		return fmt.Errorf("store: write username index: %w", err)
	}
	return nil
}

// User loads a user by id, or ErrNotFound.
func (tx *Tx) User(id string) (*User, error) {
	u, err := tx.UserState(id)
	if err != nil {
		return nil, err
	}
	if err := tx.openUser(u); err != nil {
		return nil, err
	}
	return u, nil
}

// UserState loads a user by id without opening its sealed secrets: TOTP and PendingTOTP
// carry only ciphertext (Secret is nil). It is for checks that need account state, such
// as validating a token on every request, which then neither pay for decryption nor hold
// a seed in memory. ErrNotFound if absent.
func (tx *Tx) UserState(id string) (*User, error) {
	users, err := tx.bucket(bucketUsers)
	if err != nil {
		return nil, err
	}
	u := new(User)
	if err := getJSON(users, []byte(id), "user "+id, u); err != nil {
		return nil, err
	}
	return u, nil
}

// UserByUsername loads a user by username (case-folded), or ErrNotFound.
func (tx *Tx) UserByUsername(username string) (*User, error) {
	names, err := tx.bucket(bucketUsernames)
	if err != nil {
		return nil, err
	}
	id := names.Get(usernameKey(username))
	if id == nil {
		return nil, ErrNotFound
	}

	u, err := tx.User(string(id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: username index points to missing user %s", ErrCorrupt, id)
	}
	return u, err
}

// PutUser replaces an existing user; the username cannot change. ErrNotFound if absent.
func (tx *Tx) PutUser(u *User) error {
	users, err := tx.bucket(bucketUsers)
	if err != nil {
		return err
	}

	// Only the username is needed, so the old secrets are not opened.
	var old struct {
		Username string `json:"username"`
	}
	if err := getJSON(users, []byte(u.ID), "user "+u.ID, &old); err != nil {
		return err
	}
	if old.Username != u.Username {
		return fmt.Errorf("store: user %s: the username cannot change", u.ID)
	}
	return tx.putUser(users, u)
}

// ForEachUser calls fn for each user in id order, stopping at the first error.
func (tx *Tx) ForEachUser(fn func(*User) error) error {
	users, err := tx.bucket(bucketUsers)
	if err != nil {
		return err
	}
	return forEachJSON(users, "user", func(u *User) error {
		if err := tx.openUser(u); err != nil {
			return err
		}
		return fn(u)
	})
}

// userBuckets returns the users bucket and the username index.
func (tx *Tx) userBuckets() (users, names *bbolt.Bucket, err error) {
	if users, err = tx.bucket(bucketUsers); err != nil {
		return nil, nil, err
	}
	if names, err = tx.bucket(bucketUsernames); err != nil {
		return nil, nil, err
	}
	return users, names, nil
}

// putUser writes u with its secrets sealed, leaving the caller's struct untouched.
func (tx *Tx) putUser(users *bbolt.Bucket, u *User) error {
	rec := *u
	var err error
	if rec.TOTP, err = tx.sealTOTP(u.TOTP, u.ID, fieldTOTP); err != nil {
		return err
	}
	if rec.PendingTOTP, err = tx.sealTOTP(u.PendingTOTP, u.ID, fieldPendingTOTP); err != nil {
		return err
	}
	return putJSON(users, []byte(u.ID), "user "+u.ID, &rec)
}

// sealTOTP returns a copy of t whose SealedSecret holds its secret, bound to the user
// and field.
func (tx *Tx) sealTOTP(t *TOTP, userID, field string) (*TOTP, error) {
	if t == nil {
		return nil, nil
	}
	// An empty seed would make every code computable by anyone: refuse to store it.
	if len(t.Secret) == 0 {
		return nil, fmt.Errorf("store: user %s: %s has an empty secret", userID, field)
	}
	sealed, err := tx.s.seal(t.Secret, sealAD(bucketUsers, userID, field))
	if err != nil {
		return nil, err
	}
	c := *t
	c.Secret, c.SealedSecret = nil, sealed
	return &c, nil
}

// openUser fills in the plaintext secrets of a user read from disk.
func (tx *Tx) openUser(u *User) error {
	if err := tx.openTOTP(u.TOTP, u.ID, fieldTOTP); err != nil {
		return err
	}
	return tx.openTOTP(u.PendingTOTP, u.ID, fieldPendingTOTP)
}

// openTOTP opens t.SealedSecret into t.Secret.
func (tx *Tx) openTOTP(t *TOTP, userID, field string) error {
	if t == nil {
		return nil
	}
	secret, err := tx.s.open(t.SealedSecret, sealAD(bucketUsers, userID, field))
	if err != nil {
		return fmt.Errorf("%w: user %s: sealed %s does not open", ErrCorrupt, userID, field)
	}
	t.Secret, t.SealedSecret = secret, nil
	return nil
}

// usernameKey is the username index key. Each rune becomes the lower case of the
// smallest rune of its Unicode simple case-folding orbit, so every pair of names that
// strings.EqualFold calls equal ("ALICE" and "alice", "ſam" and "sam", "ΣΑΣ" and
// "σας") shares a key, which plain strings.ToLower does not guarantee.
//
// TODO: no Unicode normalization (golang.org/x/text is not a direct dependency), so a
// precomposed and a decomposed "é" are two different names; the server should limit
// usernames to a small character set until this is done.
func usernameKey(name string) []byte {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		b.WriteRune(foldRune(r))
	}
	return []byte(b.String())
}

// FoldUsername returns the form under which the store compares usernames, for callers
// that must key other state (such as a login throttle) the same way.
func FoldUsername(name string) string { return string(usernameKey(name)) }

// foldRune maps r to a fixed representative of its case-folding orbit.
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return unicode.ToLower(least)
}
