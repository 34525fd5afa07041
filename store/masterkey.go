package store

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// maxKeyFileSize bounds how much of a master key file is read; a real one is 45 bytes.
const maxKeyFileSize = 4096

// errKeyFormat is the one reply to a malformed key. It never quotes the input, which
// may be a real key with a typo in it.
var errKeyFormat = fmt.Errorf("%w: want %d bytes encoded as base64 (standard, or "+
	"unpadded URL-safe) or as %d hex digits",
	ErrBadMasterKey, chacha20poly1305.KeySize, 2*chacha20poly1305.KeySize)

// keyDecoders are the accepted master key encodings. Their lengths for 32 bytes (64,
// 44 and 43 characters) differ, so at most one of them can apply to a given string.
var keyDecoders = []func(string) ([]byte, error){
	hex.DecodeString,
	base64.StdEncoding.Strict().DecodeString,
	base64.RawURLEncoding.Strict().DecodeString,
}

// ParseMasterKey decodes a 32-byte master key given as base64 (standard, or unpadded
// URL-safe) or as 64 hex digits, ignoring surrounding white space. Anything else is
// ErrBadMasterKey.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, decode := range keyDecoders {
		key, err := decode(s)
		if err == nil && len(key) == chacha20poly1305.KeySize {
			return key, nil
		}
	}
	return nil, errKeyFormat
}

// LoadOrCreateMasterKey reads the master key file at path. When the file does not
// exist, it creates it with mode 0600 holding a new key from rand (crypto/rand when
// nil), written as base64 and a newline and synced with its directory, and reports
// created. A file that group or others may access is refused: whoever reads it can
// open every TOTP secret and signing key in the database.
func LoadOrCreateMasterKey(path string, rand io.Reader) (key []byte, created bool, err error) {
	key, err = loadMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	key, err = createMasterKey(path, rand)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and our create.
		key, err = loadMasterKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// loadMasterKey reads and parses an existing key file.
func loadMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	defer f.Close()

	if err := checkKeyFileMode(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("store: read master key %s: %w", path, err)
	}
	key, err := ParseMasterKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("store: master key file %s: %w", path, err)
	}
	return key, nil
}

// checkKeyFileMode refuses anything but a regular file closed to group and others.
func checkKeyFileMode(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("store: master key %s is not a regular file", f.Name())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("store: master key %s has mode %04o, open to group or others; "+
			"run chmod 600 on it", f.Name(), perm)
	}
	return nil
}

// createMasterKey writes a new key file; it fails with fs.ErrExist if one appeared.
func createMasterKey(path string, rand io.Reader) ([]byte, error) {
	if rand == nil {
		rand = crand.Reader
	}
	// Draw the key first, so a failing reader leaves no empty file behind.
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("store: generate master key: %w", err)
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: create master key: %w", err)
	}
	if err := writeKeyFile(f, key); err != nil {
		// A partial key file would fail every later start; remove it. A crash here
		// leaves one behind, which the next start refuses as ErrBadMasterKey.
		_ = os.Remove(path)
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return key, nil
}

// writeKeyFile writes the encoded key, syncs and closes f.
func writeKeyFile(f *os.File, key []byte) error {
	_, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: write master key %s: %w", f.Name(), err)
	}
	return nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
