package otp

import (
	"crypto/subtle"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

const (
	// RecoveryCodeCount is the number of recovery codes issued in one set.
	RecoveryCodeCount = 10
	// MaxRecoveryCodes bounds the size of a set NewRecoveryCodes will make.
	MaxRecoveryCodes = 100
	// RecoverySaltSize is the length in bytes of the salt shared by one set of codes.
	RecoverySaltSize = 16
)

// Argon2id parameters for recovery codes. They are lighter than the password ones
// because a code carries 60 random bits, which no offline search exhausts, but NIST SP
// 800-63B §5.1.2.2 still asks for a salted KDF below 112 bits.
const (
	// RecoveryTime is the argon2id pass count.
	RecoveryTime = 1
	// RecoveryMemory is the argon2id memory in KiB (19 MiB).
	RecoveryMemory = 19 * 1024
	// RecoveryThreads is the argon2id parallelism.
	RecoveryThreads = 1
	// RecoveryKeyLen is the length in bytes of a recovery code hash.
	RecoveryKeyLen = 32
)

// recoveryAlphabet is Crockford's base32 in lower case: 32 symbols without i, l, o and
// u, so each character carries 5 bits. NormalizeRecoveryCode folds the look-alikes i
// and l to 1 and o to 0.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const (
	// recoveryCodeLen is the number of symbols in a code: 12 x 5 = 60 bits.
	recoveryCodeLen = 12
	// recoveryGroup is the number of symbols between dashes in the displayed form.
	recoveryGroup = 4
	// maxRecoveryInput bounds the input NormalizeRecoveryCode looks at.
	maxRecoveryInput = 64
)

// NewRecoveryCodes returns n distinct recovery codes read from rand, each 12 lower-case
// symbols of a 32-symbol alphabet (60 bits) shown as "xxxx-xxxx-xxxx". Two equal codes
// can only come from a broken random source, so they are reported as ErrRandom.
func NewRecoveryCodes(rand io.Reader, n int) ([]string, error) {
	if n < 1 || n > MaxRecoveryCodes {
		return nil, ErrCodeCount
	}
	raw, err := readRandom(rand, n*recoveryCodeLen)
	if err != nil {
		return nil, err
	}
	codes := make([]string, n)
	seen := make(map[string]bool, n)
	for i := range codes {
		codes[i] = formatRecoveryCode(raw[i*recoveryCodeLen : (i+1)*recoveryCodeLen])
		if seen[codes[i]] {
			return nil, fmt.Errorf("%w: repeated recovery code", ErrRandom)
		}
		seen[codes[i]] = true
	}
	return codes, nil
}

// formatRecoveryCode maps each random byte to a symbol and inserts the dashes. 256 is a
// multiple of 32, so masking keeps the symbols uniform.
func formatRecoveryCode(raw []byte) string {
	b := make([]byte, 0, recoveryCodeLen+recoveryCodeLen/recoveryGroup-1)
	for i, r := range raw {
		if i > 0 && i%recoveryGroup == 0 {
			b = append(b, '-')
		}
		b = append(b, recoveryAlphabet[r&31])
	}
	return string(b)
}

// NormalizeRecoveryCode turns what a user typed into the canonical 12-symbol form that
// HashRecoveryCode takes: ASCII letters lower-cased, spaces and dashes removed, i and l
// read as 1 and o as 0. It reports false unless exactly 12 symbols of the alphabet
// remain. Only ASCII is accepted, so Unicode case folding (the Kelvin sign lower-cases
// to 'k') cannot make two inputs equal.
func NormalizeRecoveryCode(s string) (string, bool) {
	if len(s) > maxRecoveryInput {
		return "", false
	}
	b := make([]byte, 0, recoveryCodeLen)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '-' {
			continue
		}
		c, ok := recoverySymbol(c)
		if !ok || len(b) == recoveryCodeLen {
			return "", false
		}
		b = append(b, c)
	}
	if len(b) != recoveryCodeLen {
		return "", false
	}
	return string(b), true
}

// recoverySymbol lower-cases an ASCII letter, folds look-alikes and reports whether the
// result is in the alphabet.
func recoverySymbol(c byte) (byte, bool) {
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	switch c {
	case 'i', 'l':
		c = '1'
	case 'o':
		c = '0'
	}
	for i := 0; i < len(recoveryAlphabet); i++ {
		if recoveryAlphabet[i] == c {
			return c, true
		}
	}
	return 0, false
}

// NewRecoverySalt returns a RecoverySaltSize-byte salt for one set of recovery codes.
// The whole set shares it, so checking a guess costs one KDF, not one per stored code.
func NewRecoverySalt(rand io.Reader) ([]byte, error) {
	return readRandom(rand, RecoverySaltSize)
}

// HashRecoveryCode derives the stored form of a normalized recovery code with argon2id
// (RecoveryTime, RecoveryMemory, RecoveryThreads, RecoveryKeyLen) under the set's salt.
func HashRecoveryCode(normalized string, salt []byte) []byte {
	return argon2.IDKey([]byte(normalized), salt, RecoveryTime, RecoveryMemory,
		RecoveryThreads, RecoveryKeyLen)
}

// MatchRecoveryCode compares hash with every candidate in constant time, without an
// early exit, and returns the index of the match. A used code is made unusable by
// removing it or by setting its entry to nil, which never matches; an empty hash never
// matches either.
func MatchRecoveryCode(hash []byte, candidates [][]byte) (int, bool) {
	if len(hash) == 0 {
		return -1, false
	}
	idx, found := -1, 0
	for i, c := range candidates {
		eq := subtle.ConstantTimeCompare(hash, c)
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	return idx, found == 1
}
