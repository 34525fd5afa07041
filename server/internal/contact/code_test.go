package contact

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestNewCode(t *testing.T) {
	for n := MinDigits; n <= MaxDigits; n++ {
		c, err := NewCode(rand.Reader, n)
		if err != nil || len(c) != n || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("NewCode(%d) = %q, %v", n, c, err)
		}
	}
	for _, n := range []int{0, 5, 11} {
		if _, err := NewCode(rand.Reader, n); !errors.Is(err, ErrCodeLength) {
			t.Errorf("NewCode(%d): %v, want ErrCodeLength", n, err)
		}
	}
}

// TestNewCodeRejectsBiasedBytes: bytes from 250 up would make digits 0-5 likelier, so
// they are skipped, not reduced.
func TestNewCodeRejectsBiasedBytes(t *testing.T) {
	src := bytes.NewReader(append(bytes.Repeat([]byte{255, 250}, 6), 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0))
	c, err := NewCode(src, 6)
	if err != nil || c != "123456" {
		t.Fatalf("NewCode = %q, %v; want 123456", c, err)
	}
}

func TestNewCodeRandomFailure(t *testing.T) {
	if _, err := NewCode(io.LimitReader(rand.Reader, 3), 6); !errors.Is(err, ErrRandom) {
		t.Fatalf("short random source: %v, want ErrRandom", err)
	}
}

// TestNewCodeUniform: over 200,000 digits each value is near 10%; a modulo bias of
// the kind 256 % 10 causes (digits 0-5 at 10.2%, 6-9 at 9.8%) would still pass, so the
// biased-byte test above is what pins the rejection.
func TestNewCodeUniform(t *testing.T) {
	var counts [10]int
	for range 20000 {
		c, err := NewCode(rand.Reader, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c {
			counts[c[i]-'0']++
		}
	}
	for d, n := range counts {
		if n < 19000 || n > 21000 {
			t.Errorf("digit %d appeared %d times in 200000", d, n)
		}
	}
}

func TestHashAndMatchCode(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h := HashCode(key, "ch_1", "123456")
	cases := []struct {
		name, id, code string
		key            []byte
		want           bool
	}{
		{"right", "ch_1", "123456", key, true},
		{"typed with a space", "ch_1", "123 456", key, true},
		{"typed with a dash", "ch_1", "123-456", key, true},
		{"wrong code", "ch_1", "123457", key, false},
		{"other challenge", "ch_2", "123456", key, false},
		{"other key", "ch_1", "123456", bytes.Repeat([]byte{8}, 32), false},
		{"no key", "ch_1", "123456", nil, false},
		{"empty code", "ch_1", "", key, false},
	}
	for _, tc := range cases {
		if got := MatchCode(tc.key, tc.id, tc.code, h); got != tc.want {
			t.Errorf("%s: MatchCode = %v, want %v", tc.name, got, tc.want)
		}
	}
	if MatchCode(key, "ch_1", "123456", nil) {
		t.Error("empty stored hash matched")
	}
	if bytes.Contains(h, []byte("123456")) || len(h) != 32 {
		t.Errorf("hash %x", h)
	}
}

func TestFingerprint(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	a := Fingerprint(key, "email", "Alice@Example.com")
	if a != Fingerprint(key, "email", "alice@example.com") {
		t.Error("email fingerprint depends on case")
	}
	if a == Fingerprint(key, "sms", "alice@example.com") {
		t.Error("fingerprint ignores the kind")
	}
	if a == Fingerprint(bytes.Repeat([]byte{8}, 32), "email", "alice@example.com") {
		t.Error("fingerprint ignores the key")
	}
	if strings.Contains(a, "alice") {
		t.Errorf("fingerprint %q shows the address", a)
	}
}
