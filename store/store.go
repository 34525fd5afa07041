package store

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// defaultTimeout is how long Open waits for another process's file lock by default.
const defaultTimeout = time.Second

// Options configures Open.
type Options struct {
	// MasterKey is the 32-byte key that seals secrets. Required.
	MasterKey []byte
	// Timeout bounds how long Open waits for the file lock held by another process.
	// Zero means one second.
	Timeout time.Duration
}

// Store is an open stepup database. It is safe for concurrent use; bbolt runs one
// read-write transaction at a time and any number of read-only ones.
type Store struct {
	db   *bbolt.DB
	aead cipher.AEAD
	path string
}

// Open opens or creates the database file at path. It fails with ErrLocked when another
// process holds the file for longer than opts.Timeout, with ErrBadMasterKey when the key
// is malformed or is not the key the file was created with, and with ErrCorrupt when the
// file is not a stepup database.
func Open(path string, opts Options) (*Store, error) {
	aead, err := newAEAD(opts.MasterKey)
	if err != nil {
		return nil, err
	}

	db, err := openBolt(path, opts.Timeout)
	if err != nil {
		return nil, err
	}

	s := &Store{db: db, aead: aead, path: path}
	if err := db.Update(s.init); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the bbolt file and turns its errors into the package's sentinels.
func openBolt(path string, timeout time.Duration) (*bbolt.DB, error) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}

	// NoSync stays false (the default): Update returning nil promises the write is on
	// disk, and without the fsync a crash could lose a consumed challenge or a TOTP step.
	// Without a Timeout a second stepupd would block forever on the flock.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s stayed locked for %s: "+
			"another stepupd is probably running on this data directory", ErrLocked, path, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s is not a readable bbolt file: %v", ErrCorrupt, path, err)
	default:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
}

// Path returns the path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the file. Closing a closed store does nothing.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(btx *bbolt.Tx) error { return s.run(btx, fn) })
}

// Update runs fn in a read-write transaction, committed and synced to disk before
// Update returns nil. An error from fn rolls everything back and is returned as it is.
// A failure to commit (disk full, I/O error) is returned wrapped, after a rollback, so
// the caller can report the service unavailable rather than claim a write it lost.
func (s *Store) Update(fn func(*Tx) error) error {
	btx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("%w: begin update: %w", ErrUnavailable, err)
	}
	// Undoes everything when fn fails or panics, and releases the writer lock; after a
	// successful commit it is a no-op.
	defer func() { _ = btx.Rollback() }()

	if err := s.run(btx, fn); err != nil {
		return err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
	}
	return nil
}

// run hands fn a Tx that stops working once fn returns.
func (s *Store) run(btx *bbolt.Tx, fn func(*Tx) error) error {
	tx := &Tx{btx: btx, s: s}
	defer func() { tx.btx = nil }()
	return fn(tx)
}

// Tx is a transaction. It must not be used after the View or Update call returns.
type Tx struct {
	btx *bbolt.Tx
	s   *Store
}

// bucket returns one of the store's buckets.
func (tx *Tx) bucket(name []byte) (*bbolt.Bucket, error) {
	// A Tx kept past its View or Update would read pages bbolt may already have reused.
	if tx.btx == nil {
		return nil, fmt.Errorf("store: transaction used after it ended: %w", berrors.ErrTxClosed)
	}
	b := tx.btx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, name)
	}
	return b, nil
}
