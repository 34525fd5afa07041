package password

import "errors"

var (
	// ErrBusy means no hashing slot became free within the queue timeout, or the
	// caller's context ended while waiting. No work was done.
	ErrBusy = errors.New("password: hasher busy")
	// ErrMalformedHash means an encoded hash is not an argon2id PHC string this package
	// accepts, or its parameters are out of bounds.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrTooShort means a password has fewer than 8 characters.
	ErrTooShort = errors.New("password: shorter than 8 characters")
	// ErrTooLong means a password is longer than 256 bytes.
	ErrTooLong = errors.New("password: longer than 256 bytes")
	// ErrInvalid means a password is not valid UTF-8.
	ErrInvalid = errors.New("password: not valid UTF-8")
	// ErrWeakParams means the configured argon2id parameters are below OWASP's minimum
	// and Config.AllowWeak is not set.
	ErrWeakParams = errors.New("password: argon2id parameters below the OWASP minimum")
	// ErrInvalidConfig means a Config field is out of range, such as argon2id parameters
	// beyond the bounds Verify accepts or a negative concurrency.
	ErrInvalidConfig = errors.New("password: invalid config")
	// ErrRandom means the random source failed while making a salt.
	ErrRandom = errors.New("password: random source failed")
)
