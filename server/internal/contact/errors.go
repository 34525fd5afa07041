package contact

import "errors"

var (
	// ErrBadPhone means a phone number is not in E.164 form.
	ErrBadPhone = errors.New("contact: not an E.164 phone number")
	// ErrBadEmail means an email address is not one stepup sends to.
	ErrBadEmail = errors.New("contact: not a plain email address")
	// ErrCodeLength means a code length outside MinDigits to MaxDigits was asked for.
	ErrCodeLength = errors.New("contact: unsupported code length")
	// ErrRandom means the random source failed.
	ErrRandom = errors.New("contact: random source failed")
)
