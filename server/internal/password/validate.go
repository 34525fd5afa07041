package password

import "unicode/utf8"

const (
	// minRunes is NIST SP 800-63B §5.1.1.2's minimum for a memorized secret chosen by
	// the user, counted in Unicode code points.
	minRunes = 8
	// maxBytes bounds the input to argon2. NIST asks to allow at least 64 characters;
	// 256 bytes leaves room for 64 characters of four bytes each.
	maxBytes = 256
)

// Validate applies NIST SP 800-63B's rules for a new password: valid UTF-8, at least 8
// characters (code points), at most 256 bytes. It deliberately imposes no composition
// rules, which NIST says not to. It returns ErrTooLong, ErrInvalid or ErrTooShort.
//
// TODO: NIST also requires checking new passwords against a list of breached and common
// ones, and recommends NFKC normalization before hashing so the same password typed on
// two keyboards matches; neither is done here, so "password" and its variants pass.
func Validate(password string) error {
	if len(password) > maxBytes {
		return ErrTooLong
	}
	if !utf8.ValidString(password) {
		return ErrInvalid
	}
	if utf8.RuneCountInString(password) < minRunes {
		return ErrTooShort
	}
	return nil
}
