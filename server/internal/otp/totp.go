package otp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

const (
	// Digits is the length of a TOTP code. Six is what authenticator apps show by default
	// (RFC 4226 §5.3 asks for at least six).
	Digits = 6
	// Period is the TOTP time step X of RFC 6238 §4.1.
	Period = 30 * time.Second
	// SecretSize is the length in bytes of a new TOTP secret: 160 bits, the length RFC
	// 4226 §4 recommends (R6 requires at least 128).
	SecretSize = 20
)

// maxDigits keeps 10^digits within the 31-bit dynamic truncation value.
const maxDigits = 9

// NewSecret returns a fresh SecretSize-byte TOTP secret read from rand, which should be
// crypto/rand.Reader outside tests.
func NewSecret(rand io.Reader) ([]byte, error) {
	return readRandom(rand, SecretSize)
}

// readRandom reads exactly n bytes from r.
func readRandom(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return b, nil
}

// Step returns the RFC 6238 time step that contains t: floor(unix seconds / 30) with
// T0 = 0. Times before 1970 round towards minus infinity.
func Step(t time.Time) int64 {
	sec, period := t.Unix(), int64(Period/time.Second)
	step := sec / period
	if sec%period < 0 {
		step--
	}
	return step
}

// HOTP returns the RFC 4226 one-time password for counter: HMAC with hash h (SHA-1 when
// h is nil), dynamic truncation, and the low digits decimal digits, zero padded. Note
// that RFC 6238's SHA-256 and SHA-512 test vectors use 32- and 64-byte keys, not the
// 20-byte one. HOTP panics if digits is outside 1..9, which is a programming error.
func HOTP(secret []byte, counter int64, digits int, h func() hash.Hash) string {
	if digits < 1 || digits > maxDigits {
		panic("otp: HOTP digits must be between 1 and 9")
	}
	if h == nil {
		h = sha1.New
	}
	return formatCode(truncate(hmacCounter(secret, counter, h)), digits)
}

// hmacCounter returns HMAC(secret, counter as 8 big-endian bytes).
func hmacCounter(secret []byte, counter int64, h func() hash.Hash) []byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac := hmac.New(h, secret)
	mac.Write(msg[:])
	return mac.Sum(nil)
}

// truncate is RFC 4226 §5.3 dynamic truncation: 31 bits at the offset named by the low
// nibble of the last byte.
func truncate(sum []byte) uint32 {
	off := sum[len(sum)-1] & 0x0f
	return binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
}

// formatCode writes the low digits decimal digits of v with a fixed number of steps, so
// the expected code is built the same way whatever its value.
func formatCode(v uint32, digits int) string {
	b := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// Verify reports whether code is the SHA-1 TOTP for one of the steps Step(now)-skew ..
// Step(now)+skew that is strictly greater than lastStep, and returns that step. The
// caller stores the step and passes it back as lastStep next time, so a code accepted
// once is never accepted again, not even in a parallel session (RFC 6238 §5.2).
//
// Every candidate step is computed and compared in constant time, with no early exit,
// so the time taken does not tell which step matched. If several steps match (about one
// chance in 10^6 per pair), the latest is returned, which burns the most codes. A code
// that is not exactly Digits ASCII digits after trimming surrounding space, or an empty
// secret, fails before any HMAC is computed. A negative skew counts as zero.
func Verify(secret []byte, code string, now time.Time, lastStep int64, skew int) (
	step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(secret) == 0 || !isASCIIDigits(code, Digits) {
		return 0, false
	}
	cur, window := Step(now), int64(max(skew, 0))
	found := 0
	for s := cur - window; s <= cur+window; s++ {
		// lastStep is not secret: skipping spent steps leaks nothing about the code.
		if s <= lastStep {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(HOTP(secret, s, Digits, sha1.New)), []byte(code))
		step = selectInt64(eq, s, step)
		found |= eq
	}
	if found == 0 {
		return 0, false
	}
	return step, true
}

// isASCIIDigits reports whether s is exactly n bytes, each '0'..'9'. Unicode digits such
// as U+0661 are multi-byte and outside that range, so they fail.
func isASCIIDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// selectInt64 returns x if v is 1 and y if v is 0, without branching on v.
func selectInt64(v int, x, y int64) int64 {
	mask := -int64(v)
	return x&mask | y&^mask
}
