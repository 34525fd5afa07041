// Package otp implements the second factor: time-based one-time passwords (RFC 6238 over
// the HOTP construction of RFC 4226) and single-use recovery codes (the look-up secrets
// of NIST SP 800-63B §5.1.2).
//
// The package holds no state. Replay protection depends on the caller: Verify only
// accepts steps strictly after the last step the caller has stored for the user, and the
// caller must store the returned step in the same transaction that accepts the code, so
// that two parallel logins cannot both spend one code (RFC 6238 §5.2). Attempt limits
// (RFC 4226 §7.3) are the caller's job too, and they must count across login sessions.
//
// Time and randomness are parameters, so windows and secrets are testable without
// sleeping or mocking globals. Nothing here logs; secrets and codes never appear in
// errors.
package otp
