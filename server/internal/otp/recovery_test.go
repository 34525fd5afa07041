package otp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

var recoveryFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestRecoveryAlphabet(t *testing.T) {
	seen := map[rune]bool{}
	for _, r := range recoveryAlphabet {
		seen[r] = true
	}
	if len(recoveryAlphabet) != 32 || len(seen) != 32 {
		t.Fatalf("alphabet has %d symbols, %d distinct", len(recoveryAlphabet), len(seen))
	}
	for _, r := range "ilou" {
		if seen[r] {
			t.Errorf("alphabet contains ambiguous %q", r)
		}
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(rand.Reader, RecoveryCodeCount)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("got %d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) {
			t.Errorf("code %q has the wrong format", c)
		}
		if seen[c] {
			t.Errorf("code %q repeated", c)
		}
		seen[c] = true
		if n, ok := NormalizeRecoveryCode(c); !ok || len(n) != recoveryCodeLen {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", c, n, ok)
		}
	}
}

// TestNewRecoveryCodesMapping checks that byte b maps to symbol b mod 32, so every
// symbol is reachable and equally likely.
func TestNewRecoveryCodesMapping(t *testing.T) {
	raw := make([]byte, 3*recoveryCodeLen)
	for i := range raw {
		raw[i] = byte(i*7 + 32*(i%8)) // the high bits must not matter
	}
	codes, err := NewRecoveryCodes(bytes.NewReader(raw), 3)
	if err != nil {
		t.Fatal(err)
	}
	// i*7 mod 32 for i = 0..11 is 0 7 14 21 28 3 10 17 24 31 6 13.
	if codes[0] != "07en-w3ah-rz6d" {
		t.Errorf("first code = %s", codes[0])
	}
	all := strings.Join(codes, "")
	for _, r := range recoveryAlphabet {
		if !strings.ContainsRune(all, r) {
			t.Errorf("symbol %q never produced", r)
		}
	}
}

func TestNewRecoveryCodesErrors(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		n    int
		want error
	}{
		{"zero", rand.Reader, 0, ErrCodeCount},
		{"negative", rand.Reader, -1, ErrCodeCount},
		{"too many", rand.Reader, MaxRecoveryCodes + 1, ErrCodeCount},
		{"short read", bytes.NewReader(make([]byte, 20)), 2, ErrRandom},
		{"constant source", bytes.NewReader(make([]byte, 100)), 2, ErrRandom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRecoveryCodes(tt.r, tt.n); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-jkmn", "abcdefghjkmn", true},
		{"ABCD-EFGH-JKMN", "abcdefghjkmn", true},
		{" abcd efgh jkmn ", "abcdefghjkmn", true},
		{"abcdefghjkmn", "abcdefghjkmn", true},
		{"a-b-c-d-e-f-g-h-j-k-m-n", "abcdefghjkmn", true},
		{"0123-4567-89vw", "0123456789vw", true},
		{"oIlL-4567-89vw", "0111456789vw", true},
		{"abcd-efgh-jkm", "", false},
		{"abcd-efgh-jkmnp", "", false},
		{"abcd-efgh-jkmu", "", false},
		{"abcd_efgh_jkmn", "", false},
		{"abcd-efgh-jkm\u212a", "", false}, // Kelvin sign lower-cases to 'k'
		{"abcd-efgh-jkmé", "", false},
		{"abcd\tefgh-jkmn", "", false},
		{"", "", false},
		{"----------------------------------------------------------------abcdefghjkmn", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := NormalizeRecoveryCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("= %q, %v, want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRecoverySalt(t *testing.T) {
	salt, err := NewRecoverySalt(rand.Reader)
	if err != nil || len(salt) != RecoverySaltSize {
		t.Fatalf("salt = %x, %v", salt, err)
	}
	if _, err := NewRecoverySalt(bytes.NewReader(nil)); !errors.Is(err, ErrRandom) {
		t.Errorf("empty reader: %v", err)
	}
}

// recoverySet issues codes and stores their hashes under one salt, as enrolment does.
func recoverySet(t testing.TB) (codes []string, salt []byte, hashes [][]byte) {
	codes, err := NewRecoveryCodes(rand.Reader, RecoveryCodeCount)
	if err != nil {
		t.Fatal(err)
	}
	if salt, err = NewRecoverySalt(rand.Reader); err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		n, _ := NormalizeRecoveryCode(c)
		hashes = append(hashes, HashRecoveryCode(n, salt))
	}
	return codes, salt, hashes
}

func TestMatchRecoveryCode(t *testing.T) {
	codes, salt, hashes := recoverySet(t)
	for want, c := range codes {
		n, _ := NormalizeRecoveryCode(c)
		if got, ok := MatchRecoveryCode(HashRecoveryCode(n, salt), hashes); !ok || got != want {
			t.Errorf("code %d matched (%d, %v)", want, got, ok)
		}
	}

	other, _ := NewRecoveryCodes(rand.Reader, 1)
	n, _ := NormalizeRecoveryCode(other[0])
	if i, ok := MatchRecoveryCode(HashRecoveryCode(n, salt), hashes); ok || i != -1 {
		t.Errorf("unknown code matched index %d", i)
	}

	n, _ = NormalizeRecoveryCode(codes[0])
	if _, ok := MatchRecoveryCode(HashRecoveryCode(n, []byte("another salt 16b")), hashes); ok {
		t.Error("code hashed under another salt matched")
	}
}

// TestMatchRecoveryCodeUsed spends a code by setting its hash to nil.
func TestMatchRecoveryCodeUsed(t *testing.T) {
	codes, salt, hashes := recoverySet(t)
	n, _ := NormalizeRecoveryCode(codes[3])
	h := HashRecoveryCode(n, salt)
	i, ok := MatchRecoveryCode(h, hashes)
	if !ok || i != 3 {
		t.Fatalf("first use matched (%d, %v)", i, ok)
	}
	hashes[i] = nil
	if i, ok := MatchRecoveryCode(h, hashes); ok {
		t.Errorf("used code matched again at %d", i)
	}
	if _, ok := MatchRecoveryCode(nil, hashes); ok {
		t.Error("empty hash matched a spent (nil) entry")
	}
	if _, ok := MatchRecoveryCode(h, nil); ok {
		t.Error("matched against no candidates")
	}
}

func TestHashRecoveryCodeDeterministic(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, RecoverySaltSize)
	a, b := HashRecoveryCode("abcdefghjkmn", salt), HashRecoveryCode("abcdefghjkmn", salt)
	if !bytes.Equal(a, b) || len(a) != RecoveryKeyLen {
		t.Errorf("hashes %x, %x", a, b)
	}
	if bytes.Equal(a, HashRecoveryCode("abcdefghjkmp", salt)) {
		t.Error("different codes hash equal")
	}
}

func BenchmarkHashRecoveryCode(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, RecoverySaltSize)
	for b.Loop() {
		HashRecoveryCode("abcdefghjkmn", salt)
	}
}
