package otp

import "errors"

var (
	// ErrRandom means the random source failed or produced output that cannot be random,
	// such as two equal recovery codes.
	ErrRandom = errors.New("otp: random source failed")
	// ErrCodeCount means a recovery code set was requested with a size outside
	// 1..MaxRecoveryCodes.
	ErrCodeCount = errors.New("otp: invalid number of recovery codes")
)
