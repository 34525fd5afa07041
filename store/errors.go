package store

import "errors"

var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists means a record with that id already exists.
	ErrExists = errors.New("store: already exists")
	// ErrUsernameTaken means another user has that username.
	ErrUsernameTaken = errors.New("store: username taken")
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("store: database is in use by another process")
	// ErrCorrupt means a record could not be decoded or a sealed secret failed to open.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrBadMasterKey means the master key is malformed or does not open the stored
	// secrets.
	ErrBadMasterKey = errors.New("store: bad master key")
)

// ErrUnavailable means a write could not be made durable (disk full, I/O error): the
// transaction was rolled back and nothing changed.
var ErrUnavailable = errors.New("store: unavailable")
