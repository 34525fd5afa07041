package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on the decoded salt and hash. We write 16 and 32 bytes; the ranges leave room
// to change those later without accepting degenerate values.
const (
	minSalt       = 8
	maxSalt       = 64
	minKey        = 16
	maxKey        = 64
	maxEncodedLen = 256
)

// b64 is the PHC string format's base64: standard alphabet, no padding, and strict, so
// one hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// phc is a decoded argon2id hash.
type phc struct {
	params Params
	salt   []byte
	key    []byte
}

// encode returns the PHC string for an argon2id hash.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s",
		argon2.Version, formatParams(p), b64.EncodeToString(salt), b64.EncodeToString(key))
}

// formatParams writes the parameter segment, m=..,t=..,p=.. .
func formatParams(p Params) string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// decode parses a PHC string. It accepts only the form encode writes, so there is one
// spelling per hash, and wraps ErrMalformedHash with a reason that quotes nothing from
// the input.
func decode(s string) (phc, error) {
	if len(s) > maxEncodedLen {
		return phc{}, malformed("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, malformed("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, malformed("unsupported version")
	}
	p, err := parseParams(parts[3])
	if err != nil {
		return phc{}, err
	}
	salt, err := decodeField(parts[4], minSalt, maxSalt, "salt")
	if err != nil {
		return phc{}, err
	}
	key, err := decodeField(parts[5], minKey, maxKey, "hash")
	if err != nil {
		return phc{}, err
	}
	return phc{params: p, salt: salt, key: key}, nil
}

// parseParams parses m=..,t=..,p=.. in that order and within bounds. Re-encoding and
// comparing rejects signs, leading zeros and spaces that strconv would accept.
func parseParams(s string) (Params, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return Params{}, malformed("bad parameters")
	}
	m, errM := parseField(fields[0], "m=", 32)
	t, errT := parseField(fields[1], "t=", 32)
	p, errP := parseField(fields[2], "p=", 8)
	if errM != nil || errT != nil || errP != nil {
		return Params{}, malformed("bad parameters")
	}
	params := Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	if formatParams(params) != s {
		return Params{}, malformed("non-canonical parameters")
	}
	if !params.inBounds() {
		return Params{}, malformed("parameters out of bounds")
	}
	return params, nil
}

// parseField parses one name=value parameter.
func parseField(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, ErrMalformedHash
	}
	return strconv.ParseUint(v, 10, bits)
}

// decodeField decodes a base64 salt or hash and checks its length.
func decodeField(s string, minLen, maxLen int, name string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, malformed("bad " + name + " encoding")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, malformed(name + " length out of bounds")
	}
	return b, nil
}

// malformed wraps ErrMalformedHash with a fixed reason.
func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, reason)
}
