package token

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

const (
	// maxHeaderLen bounds the decoded protected header; the Signer's is about 70
	// bytes.
	maxHeaderLen    = 512
	maxHeaderSegLen = (maxHeaderLen*4 + 2) / 3 // unpadded base64 length
	// MaxKeyIDLen is the longest kid NewSigner accepts.
	MaxKeyIDLen = 128
)

var (
	errHeader     = fmt.Errorf("%w: header is not a flat object of plain strings", ErrMalformed)
	errHeaderName = fmt.Errorf("%w: header name other than alg, kid, typ, or repeated", ErrMalformed)
)

// checkHeader decodes the protected header segment and reports whether its typ names
// an access token. The header must be a JSON object whose members are among alg, kid
// and typ, each at most once, with string values made of printable ASCII and no
// escape sequences: exactly the shape the Signer writes (NewSigner restricts kid
// accordingly).
//
// Every other name is refused whatever its value, null included: jku and x5u would
// point at an attacker's keys, jwk and x5c would embed them, crit would demand
// semantics this package does not implement, and an allowlist also covers names
// nobody has thought of yet. It runs before go-jose parses the header, so an embedded
// jwk or x5c chain is never decoded at all.
//
// This is a purpose-built scanner rather than a JSON decoder for speed: it needs no
// allocation, where decoding into a map cost about 20. Its grammar is a strict subset
// of JSON without escapes, so a header it accepts means the same to go-jose's decoder;
// FuzzCheckHeader checks that against go-jose's decoder.
func checkHeader(seg string) (typOK bool, err error) {
	if len(seg) > maxHeaderSegLen {
		return false, errHeader
	}
	// Both buffers live on the stack; []byte(seg) would allocate.
	var enc [maxHeaderSegLen]byte
	var buf [maxHeaderLen]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], enc[:copy(enc[:], seg)])
	if err != nil {
		return false, errHeader
	}
	return scanHeader(buf[:n])
}

// headerNames are the only header parameters allowed, in the order of their bits.
var headerNames = [...]string{"alg", "kid", "typ"}

const typBit = 1 << 2

// scanHeader parses b as described at checkHeader.
func scanHeader(b []byte) (typOK bool, err error) {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return false, errHeader
	}
	if j := skipSpace(b, i+1); j < len(b) && b[j] == '}' {
		return false, endOfHeader(b, j+1)
	}
	var seen uint8
	for {
		// b[i] is the '{' or ',' before the next member.
		if i, err = scanMember(b, skipSpace(b, i+1), &seen, &typOK); err != nil {
			return false, err
		}
		switch i = skipSpace(b, i); {
		case i == len(b):
			return false, errHeader
		case b[i] == '}':
			return typOK, endOfHeader(b, i+1)
		case b[i] != ',':
			return false, errHeader
		}
	}
}

// scanMember reads one "name":"value" pair starting at b[i], records its name in
// seen, sets typOK if it is typ, and returns the index after the value.
func scanMember(b []byte, i int, seen *uint8, typOK *bool) (int, error) {
	name, i, ok := scanString(b, i)
	if !ok {
		return 0, errHeader
	}
	bit, ok := headerBit(name, *seen)
	if !ok {
		return 0, errHeaderName
	}
	*seen |= bit
	if i = skipSpace(b, i); i == len(b) || b[i] != ':' {
		return 0, errHeader
	}
	value, i, ok := scanString(b, skipSpace(b, i+1))
	if !ok {
		return 0, errHeader
	}
	if bit == typBit {
		*typOK = isAccessTokenType(value)
	}
	return i, nil
}

// headerBit returns the bit of an allowed, not yet seen name.
func headerBit(name []byte, seen uint8) (uint8, bool) {
	for i, n := range headerNames {
		if string(name) == n && seen&(1<<i) == 0 {
			return 1 << i, true
		}
	}
	return 0, false
}

// endOfHeader checks that only whitespace follows the closing brace at b[i-1].
func endOfHeader(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errHeader
	}
	return nil
}

// skipSpace returns the index of the first byte at or after i that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads a JSON string starting at b[i] that contains only printable ASCII
// and no backslash, and returns its contents and the index after its closing quote.
func scanString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// isAccessTokenType reports whether typ names an access token (RFC 9068 §4: media
// type names are case-insensitive, and the "application/" prefix may be omitted).
func isAccessTokenType(typ []byte) bool {
	return bytes.EqualFold(typ, []byte(Type)) || bytes.EqualFold(typ, []byte("application/"+Type))
}

// validKeyID reports whether kid can be written into a header unescaped, which
// checkHeader requires: printable ASCII except the characters go-jose escapes.
func validKeyID(kid string) bool {
	if kid == "" || len(kid) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		switch c := kid[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
