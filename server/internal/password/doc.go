// Package password hashes and checks passwords with argon2id and applies the NIST SP
// 800-63B length rules.
//
// Hashes are stored in PHC string form, $argon2id$v=19$m=..,t=..,p=..$salt$hash, so each
// one names its own parameters: Verify reads them from the string, and NeedsRehash tells
// the caller when to store a new hash after the defaults are raised.
//
// Argon2id is deliberately expensive in memory and CPU, so a Hasher bounds how many
// hashes run at once. A caller that cannot get a slot within the queue timeout gets
// ErrBusy, so a burst of logins is turned away quickly instead of exhausting memory.
// VerifyDummy spends the same work for an unknown username as Verify does for a known
// one, so response time does not tell whether an account exists.
//
// Errors never contain a password or a hash.
package password
