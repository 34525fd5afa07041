package contact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// Code lengths. Six digits is the minimum of NIST SP 800-63B section 5.1.3.2 (20 bits);
// more than ten stops being typeable.
const (
	MinDigits = 6
	MaxDigits = 10
)

// Domain-separation prefixes of the MAC inputs, so a code hash can never equal an
// address fingerprint.
const (
	codePrefix = "stepup/v1|code|"
	destPrefix = "stepup/v1|dest|"
)

// NewCode returns a code of n decimal digits, each uniform: bytes from 250 up are
// thrown away so that the modulo does not favour low digits.
func NewCode(rand io.Reader, n int) (string, error) {
	if n < MinDigits || n > MaxDigits {
		return "", ErrCodeLength
	}
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", fmt.Errorf("%w: %w", ErrRandom, err)
		}
		for _, b := range buf {
			if b < 250 && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// HashCode is the stored form of a code: HMAC-SHA256 under the server's code key, over
// the challenge id and the code. A 6-digit code has only 10^6 values, so a plain or
// salted hash would be reversed in a second by anyone holding the database file; the
// key is sealed under the master key, which is not in that file. Binding the challenge
// id makes a hash useless in any other challenge.
func HashCode(key []byte, challengeID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(codePrefix + challengeID + "|" + code))
	return m.Sum(nil)
}

// MatchCode reports whether code, as typed (spaces and dashes are ignored), is the
// code whose hash is stored for the challenge. The comparison is constant-time.
func MatchCode(key []byte, challengeID, code string, stored []byte) bool {
	if len(stored) == 0 || len(key) == 0 {
		return false
	}
	code = strings.NewReplacer(" ", "", "-", "").Replace(code)
	return hmac.Equal(HashCode(key, challengeID, code), stored)
}

// Fingerprint names an address without revealing it, for rate-limit keys and for
// checking that a challenge's address is still the user's: a MAC under the code key,
// so the stored value cannot be matched against a list of phone numbers. Email
// addresses are folded to lower case first (see SameEmail).
func Fingerprint(key []byte, kind, address string) string {
	if strings.Contains(address, "@") {
		address = strings.ToLower(address)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(destPrefix + kind + "|" + address))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
