package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// PutSession creates or replaces a session. Its UserID must not contain "/", which
// separates the user id from the session id in the user_sessions index.
func (tx *Tx) PutSession(s *Session) error {
	if s.ID == "" || !validUserID(s.UserID) {
		return errors.New(`store: a session needs an id and a user id without "/"`)
	}
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return err
	}
	index, err := tx.bucket(bucketUserSessions)
	if err != nil {
		return err
	}

	// A session moved to another user must leave the old user's index.
	var old Session
	err = getJSON(sessions, []byte(s.ID), "session "+s.ID, &old)
	switch {
	case err == nil && old.UserID != s.UserID:
		if err := index.Delete(sessionIndexKey(old.UserID, s.ID)); err != nil {
			return fmt.Errorf("store: delete session index: %w", err)
		}
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}

	if err := putJSON(sessions, []byte(s.ID), "session "+s.ID, s); err != nil {
		return err
	}
	if err := index.Put(sessionIndexKey(s.UserID, s.ID), []byte{}); err != nil {
		return fmt.Errorf("store: write session index: %w", err)
	}
	return nil
}

// Session loads a session, or ErrNotFound.
func (tx *Tx) Session(id string) (*Session, error) {
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return nil, err
	}
	s := new(Session)
	if err := getJSON(sessions, []byte(id), "session "+id, s); err != nil {
		return nil, err
	}
	return s, nil
}

// UserSessions lists every stored session of a user, in session id order.
func (tx *Tx) UserSessions(userID string) ([]*Session, error) {
	index, err := tx.bucket(bucketUserSessions)
	if err != nil {
		return nil, err
	}

	var out []*Session
	prefix := sessionIndexKey(userID, "")
	c := index.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		s, err := tx.Session(string(k[len(prefix):]))
		if errors.Is(err, ErrNotFound) {
			continue // the index can only outlive its session through a bug; nothing to list
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ForEachSession calls fn for each session, stopping at the first error.
func (tx *Tx) ForEachSession(fn func(*Session) error) error {
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return err
	}
	return forEachJSON(sessions, "session", fn)
}

// validUserID reports whether id can be a user id: non-empty and free of "/", so that
// "<user id>/" prefixes the index keys of exactly one user.
func validUserID(id string) bool {
	return id != "" && !strings.Contains(id, "/")
}

// sessionIndexKey is the user_sessions key of one session: "<user id>/<session id>".
func sessionIndexKey(userID, sessionID string) []byte {
	return []byte(userID + "/" + sessionID)
}
