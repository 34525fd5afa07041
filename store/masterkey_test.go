package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// awkwardKey encodes to "+/+/..." in standard base64 and "-_-_..." in URL-safe base64.
var awkwardKey = bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]

func TestParseMasterKey(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(awkwardKey)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(awkwardKey), true},
		{"upper-case hex", strings.ToUpper(hex.EncodeToString(awkwardKey)), true},
		{"standard base64", std, true},
		{"surrounding white space", "\n\t " + std + " \r\n", true},
		{"unpadded url-safe base64", base64.RawURLEncoding.EncodeToString(awkwardKey), true},
		{"empty", "", false},
		{"31 bytes hex", hex.EncodeToString(awkwardKey[:31]), false},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(append(awkwardKey, 1)), false},
		{"unpadded standard base64", strings.TrimRight(std, "="), false},
		{"hex with a bad digit", "g" + hex.EncodeToString(awkwardKey)[1:], false},
		{"space inside", std[:20] + " " + std[20:], false},
		{"passphrase", "correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseMasterKey(tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrBadMasterKey) {
					t.Fatalf("err = %v, want ErrBadMasterKey", err)
				}
				if len(tt.in) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[:4]) {
					t.Errorf("error %q echoes the input", err)
				}
				return
			}
			if err != nil || !bytes.Equal(key, awkwardKey) {
				t.Errorf("ParseMasterKey = %x, %v; want %x", key, err, awkwardKey)
			}
		})
	}
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	key, created, err := LoadOrCreateMasterKey(path, bytes.NewReader(awkwardKey))
	if err != nil || !created || !bytes.Equal(key, awkwardKey) {
		t.Fatalf("first call = %x, %v, %v; want the new key, created", key, created, err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if want := base64.StdEncoding.EncodeToString(awkwardKey) + "\n"; string(data) != want {
		t.Errorf("file holds %q, want %q", data, want)
	}

	// The key already exists, so the reader must not be touched.
	key, created, err = LoadOrCreateMasterKey(path, iotest.ErrReader(errors.New("no")))
	if err != nil || created || !bytes.Equal(key, awkwardKey) {
		t.Errorf("second call = %x, %v, %v; want the same key, not created", key, created, err)
	}

	// The created key opens a store.
	openAt(t, filepath.Join(t.TempDir(), "stepup.db"), key)
}

func TestLoadMasterKeyRefusesOpenModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := LoadOrCreateMasterKey(path, nil); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		key, _, err := LoadOrCreateMasterKey(path, nil)
		if err == nil || key != nil {
			t.Errorf("mode %04o: key loaded", mode)
		} else if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: error %q does not say how to fix it", mode, err)
		}
	}
}

func TestLoadMasterKeyRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateMasterKey(path, nil)
	if !errors.Is(err, ErrBadMasterKey) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v, want ErrBadMasterKey without the file's content", err)
	}
}

func TestCreateMasterKeyLeavesNoFileOnRandFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	_, _, err := LoadOrCreateMasterKey(path, iotest.ErrReader(errors.New("no entropy")))
	if err == nil {
		t.Fatal("created a key without randomness")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file left behind: %v", err)
	}
}
