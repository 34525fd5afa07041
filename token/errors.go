package token

import "errors"

// Every error this package returns wraps exactly one of these sentinels, so callers
// compare with errors.Is and map all of them except ErrInsufficientACR and
// ErrAuthTooOld to codes.Unauthenticated with one fixed message. No error text ever
// contains the token, a header or claim value taken from it, or key material:
// attacker-chosen bytes must not reach logs.
var (
	// ErrMalformed means the token is not a well-formed access token: wrong shape,
	// characters outside base64url, undecodable header or claims, a forbidden header,
	// or a required claim that is missing or has the wrong JSON type.
	ErrMalformed = errors.New("token: malformed")
	// ErrBadSignature means the signature does not verify, or the header alg is not the
	// one algorithm pinned to the key named by kid.
	ErrBadSignature = errors.New("token: bad signature")
	// ErrUnknownKey means the header has no kid, or names a key that is not in the
	// current key set (for example one that has been rotated out).
	ErrUnknownKey = errors.New("token: unknown key")
	// ErrExpired means the current time is past exp plus the leeway.
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid means nbf or iat lies further in the future than the leeway allows.
	ErrNotYetValid = errors.New("token: not yet valid")
	// ErrWrongIssuer means iss is not the issuer the verifier expects.
	ErrWrongIssuer = errors.New("token: wrong issuer")
	// ErrWrongAudience means aud does not contain the verifier's audience.
	ErrWrongAudience = errors.New("token: wrong audience")
	// ErrWrongType means the typ header is missing or is not at+jwt (RFC 9068 §4), so
	// the token is some other kind of JWT, such as an ID token.
	ErrWrongType = errors.New("token: wrong type")
	// ErrInsufficientACR means the token's acr ranks below the one the call requires.
	// Unlike the errors above it is not a bad token: the caller should step up.
	ErrInsufficientACR = errors.New("token: insufficient authentication level")
	// ErrAuthTooOld means the user authenticated longer ago than the call's max age
	// allows. The caller should authenticate again.
	ErrAuthTooOld = errors.New("token: authentication too old")
	// ErrAuthHeader means the request's authorization metadata is missing, repeated,
	// or not of the form "Bearer <token>".
	ErrAuthHeader = errors.New("token: bad authorization header")
	// ErrInvalidKey means a key, key set, or JWKS document was rejected: unsupported
	// algorithm or curve, key type that does not match its algorithm, missing or
	// duplicate kid, private or symmetric key where a public one belongs.
	ErrInvalidKey = errors.New("token: invalid key")
	// ErrInvalidClaims means Sign was given claims that Verify would reject, such as a
	// missing required claim. It reports a bug in the issuer, never a bad token.
	ErrInvalidClaims = errors.New("token: invalid claims")
	// ErrInvalidConfig means a VerifierConfig is incomplete or out of range.
	ErrInvalidConfig = errors.New("token: invalid verifier config")
)
