package client

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/token"
)

// Errors this package returns wrap one of these sentinels or one of package token's;
// compare them with errors.Is. None of them ever carries a token or a claim value.
var (
	// ErrInvalidConfig means a Config or Policy is incomplete or out of range.
	ErrInvalidConfig = errors.New("client: invalid config")
	// ErrNoKeys means the verifier has not yet received a key set it accepts, so it
	// cannot tell a good token from a bad one.
	ErrNoKeys = errors.New("client: no key set yet")
	// ErrRevoked means the token verified but stepup has since revoked it: its session
	// ended, its jti was revoked, its user was disabled, or it was issued before the
	// user's tokens_not_before.
	ErrRevoked = errors.New("client: token revoked")
	// ErrRevocationsStale means the revocation stream has been down for longer than
	// Config.RevocationStaleAfter, or has not delivered its first snapshot, so a revoked
	// token cannot be told from a live one.
	ErrRevocationsStale = errors.New("client: revocation list is stale")
	// ErrUnreachable means stepup did not answer a ValidateToken call in remote mode.
	ErrUnreachable = errors.New("client: stepup unreachable")
	// ErrRemoteRejected means stepup's ValidateToken found the token invalid.
	ErrRemoteRejected = errors.New("client: token rejected by stepup")
	// ErrClosed means the verifier was closed.
	ErrClosed = errors.New("client: verifier closed")
	// ErrNoToken means a Session holds no access token, for example after Logout.
	ErrNoToken = errors.New("client: session has no access token")
	// ErrCannotStepUp means a step-up error asked for an acr that a second factor at
	// stepup cannot reach, so prompting the user would not help.
	ErrCannotStepUp = errors.New("client: required acr cannot be reached by step-up")
	// ErrCallerNotAllowed means the token is good but the method's Callers refuse it:
	// the wrong kind of token, or a calling service that is not on the list.
	ErrCallerNotAllowed = errors.New("client: caller not allowed")
)

// The statuses the interceptors answer with. Their messages are fixed: they never say
// which check failed, and never echo the token.
var (
	errUnauthenticated = status.Error(codes.Unauthenticated, "invalid or expired access token")
	errUnavailable     = status.Error(codes.Unavailable, "authentication temporarily unavailable")
	errPolicy          = status.Error(codes.Internal, "authorization policy misconfigured")
	errCallerDenied    = status.Error(codes.PermissionDenied, "caller not allowed to call this method")
)

// statusFor is the one place where a failed authentication becomes a gRPC status. A
// token that is good but too weak for rule gets exactly token.StepUpError(rule), the
// answer stepup itself gives; anything that says "I cannot decide right now" is
// Unavailable, so clients retry instead of discarding the token; the rest is one
// Unauthenticated answer.
func statusFor(err error, rule Rule) error {
	switch {
	case errors.Is(err, token.ErrInsufficientACR), errors.Is(err, token.ErrAuthTooOld):
		return token.StepUpError(rule)
	case errors.Is(err, ErrNoKeys), errors.Is(err, ErrRevocationsStale),
		errors.Is(err, ErrUnreachable), errors.Is(err, ErrClosed):
		return errUnavailable
	case errors.Is(err, ErrInvalidConfig):
		return errPolicy
	case errors.Is(err, ErrCallerNotAllowed):
		return errCallerDenied
	}
	return errUnauthenticated
}

// Log keys, kept as constants so every line names things the same way.
const (
	logErr     = "err"
	logMethod  = "method"
	logReason  = "reason"
	logTokenID = "jti"
	logUserID  = "user_id"
	logKeys    = "keys"
	logSource  = "source"
	logBackoff = "retry_in"
	logStream  = "stream"
)
