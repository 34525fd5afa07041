package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/store"
)

// The errors handlers return. Messages are fixed strings: they never carry input, and
// the login and challenge ones never say whether a user or challenge exists.
var (
	// errBadLogin answers an unknown user, a wrong password and a disabled user alike.
	errBadLogin = status.Error(codes.Unauthenticated, "invalid username or password")
	// errBadPassword answers a wrong current password from an authenticated user.
	errBadPassword = status.Error(codes.Unauthenticated, "current password is wrong")
	// errBadToken answers a missing, malformed, expired or revoked bearer token.
	errBadToken = status.Error(codes.Unauthenticated, "invalid or expired access token")
	// errBadRefresh answers an unknown, expired, reused or ended refresh token.
	errBadRefresh = status.Error(codes.Unauthenticated, "invalid refresh token")
	// errNoChallenge answers an unknown, expired, used, burned or foreign challenge id.
	errNoChallenge = status.Error(codes.NotFound, "challenge not found, expired or already used")
	// errBadCode answers a wrong one-time code.
	errBadCode = status.Error(codes.Unauthenticated, "invalid code")
	// errNotEnrolled answers a request for a factor the user has not enrolled.
	errNotEnrolled = status.Error(codes.FailedPrecondition, "factor not enrolled")
	// errNoPending answers ConfirmTotpEnrollment without a BeginTotpEnrollment.
	errNoPending = status.Error(codes.FailedPrecondition, "no TOTP enrollment in progress")
	// errEmailOff and errSMSOff answer email and SMS requests when no sender is
	// configured for that channel.
	errEmailOff = status.Error(codes.FailedPrecondition, "email delivery is not configured")
	errSMSOff   = status.Error(codes.FailedPrecondition, "SMS delivery is not configured")
	// errNotSent answers when the provider refused, failed or timed out; the code that
	// was not sent cannot be used.
	errNotSent = status.Error(codes.Unavailable, "the code could not be sent, try again later")
	// errNoPendingEmail and errNoPendingPhone answer a confirmation with no address
	// waiting, or whose code expired, was used or burned.
	errNoPendingEmail = status.Error(codes.FailedPrecondition, "no email address waiting for confirmation")
	errNoPendingPhone = status.Error(codes.FailedPrecondition, "no phone number waiting for confirmation")
	// errSameAddress answers adding the address that is already verified.
	errSameAddress = status.Error(codes.AlreadyExists, "that address is already verified")
	// errStorage answers a failed write (disk full, I/O error): the request changed nothing.
	errStorage = status.Error(codes.Unavailable, "storage unavailable, try again later")
	// errInternal answers anything unexpected; the cause goes to the log only.
	errInternal = status.Error(codes.Internal, "internal error")
)

// invalidArg builds an InvalidArgument status naming the bad field. The message names the
// field and the rule, never the value.
func invalidArg(field, rule string) error {
	st := status.New(codes.InvalidArgument, field+": "+rule)
	detailed, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: rule}},
	})
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}

// tooMany builds a ResourceExhausted status with a RetryInfo detail.
func tooMany(msg string, retryAfter time.Duration) error {
	st := status.New(codes.ResourceExhausted, msg)
	if retryAfter <= 0 {
		return st.Err()
	}
	detailed, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)})
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}

// toStatus is the one place that turns an internal error into a gRPC status. Errors that
// already are statuses pass through; the rest are logged here (IDs only) and answered
// with a fixed message.
func (s *Server) toStatus(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, password.ErrBusy):
		return tooMany("server busy, try again shortly", time.Second)
	case errors.Is(err, store.ErrCorrupt), errors.Is(err, store.ErrBadMasterKey):
		s.log.ErrorContext(ctx, "stored record unreadable", logOp, op, logErr, err)
		return errInternal
	case errors.Is(err, store.ErrUnavailable):
		s.log.ErrorContext(ctx, "storage write failed", logOp, op, logErr, err)
		return errStorage
	}
	s.log.ErrorContext(ctx, "unexpected error", logOp, op, logErr, err)
	return errInternal
}

// Log keys, kept as constants so every line names things the same way.
const (
	logErr         = "err"
	logOp          = "op"
	logUserID      = "user_id"
	logSessionID   = "sid"
	logTokenID     = "jti"
	logChallengeID = "challenge_id"
	logKeyID       = "kid"
	logFactor      = "factor"
	logPeer        = "peer"
	logReason      = "reason"
	logChannel     = "channel"
)

// statusOf reports whether err is a gRPC status error.
func statusOf(err error) (*status.Status, bool) {
	if err == nil {
		return nil, false
	}
	return status.FromError(err)
}
