package server

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// publicMethods need no bearer token. Every other method on the public listener does:
// the policy is default deny.
var publicMethods = map[string]bool{
	stepupv1.AuthService_Login_FullMethodName:                        true,
	stepupv1.AuthService_ValidateToken_FullMethodName:                true,
	stepupv1.AuthService_RefreshToken_FullMethodName:                 true,
	stepupv1.AuthService_GetJwks_FullMethodName:                      true,
	stepupv1.AuthService_WatchJwks_FullMethodName:                    true,
	stepupv1.AuthService_WatchRevocations_FullMethodName:             true,
	stepupv1.AuthService_IssueServiceToken_FullMethodName:            true,
	"/grpc.health.v1.Health/Check":                                   true,
	"/grpc.health.v1.Health/Watch":                                   true,
	"/grpc.health.v1.Health/List":                                    true,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
}

type callerKey struct{}

// caller is the authenticated user of a request, or the service on a serviceMethods
// call, where user is nil.
type caller struct {
	claims *token.Claims
	user   *store.User
}

// callerFrom returns the caller the auth interceptor put in ctx. Handlers behind the
// interceptor can rely on it; a missing caller is a wiring bug and fails closed.
func callerFrom(ctx context.Context) (*caller, error) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return nil, errBadToken
	}
	return c, nil
}

// authFunc is the go-grpc-middleware auth function of the public listener.
func (s *Server) authFunc(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	if publicMethods[method] {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	raw, err := token.BearerFromMD(md)
	if err != nil {
		return nil, errBadToken
	}
	res := s.check(raw)
	if res.err != nil { // stepup could not decide: say so rather than blame the token
		return nil, s.toStatus(ctx, "authenticate", res.err)
	}
	if res.reason != stepupv1.ValidationReason_VALIDATION_REASON_OK {
		s.log.WarnContext(ctx, "rejected access token", logReason, res.reason.String(),
			logTokenID, res.tokenID())
		return nil, errBadToken
	}
	if err := tokenKindAllowed(method, res.claims); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, callerKey{}, &caller{claims: res.claims, user: res.user}), nil
}

// checkResult is the outcome of checking a token: its claims once the signature
// verified, the user once loaded, and the reason it is or is not valid.
type checkResult struct {
	claims *token.Claims
	user   *store.User
	reason stepupv1.ValidationReason
	err    error // a storage failure, not a verdict on the token
}

func (r *checkResult) tokenID() string {
	if r.claims == nil {
		return ""
	}
	return r.claims.ID
}

// check verifies a token's signature and claims (RFC 8725 rules in package token) and
// then that its data still holds: the user exists and is enabled, the user's tokens
// were not revoked after it was issued, and its session has not ended.
func (s *Server) check(raw string) checkResult { return s.checkWith(s.verifier, raw) }

// checkWith is check with the verifier of a given audience. A service token is
// checked against its service's registration instead of a user and session.
func (s *Server) checkWith(v *token.Verifier, raw string) checkResult {
	claims, err := v.Verify(raw)
	if err != nil {
		return checkResult{reason: reasonFor(err)}
	}
	res := checkResult{claims: claims, reason: stepupv1.ValidationReason_VALIDATION_REASON_OK}
	res.err = s.store.View(func(tx *store.Tx) error {
		if claims.IsService() {
			var err error
			res.reason, err = serviceLiveness(tx, claims)
			return err
		}
		// Account state only: the TOTP seed is not decrypted on every request.
		user, err := tx.UserState(claims.Subject)
		if errors.Is(err, store.ErrNotFound) {
			res.reason = stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_USER
			return nil
		}
		if err != nil {
			return err
		}
		res.user = user
		res.reason = s.liveness(tx, claims, user)
		return nil
	})
	if res.err != nil {
		res.reason = stepupv1.ValidationReason_VALIDATION_REASON_UNSPECIFIED
	}
	return res
}

// liveness applies the checks that depend on stored state.
func (s *Server) liveness(tx *store.Tx, c *token.Claims, u *store.User) stepupv1.ValidationReason {
	if u.Disabled {
		return stepupv1.ValidationReason_VALIDATION_REASON_USER_DISABLED
	}
	if c.IssuedAt.Before(u.TokensNotBefore) || !actorsLive(tx, c) {
		return stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
	}
	sess, err := tx.Session(c.SessionID)
	if err != nil || sess.UserID != u.ID || sess.Ended(s.cfg.Now()) {
		return stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
	}
	if _, err := tx.RevokedToken(c.ID); !errors.Is(err, store.ErrNotFound) {
		// Revoked, or unreadable: either way the token does not pass.
		return stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
	}
	return stepupv1.ValidationReason_VALIDATION_REASON_OK
}

// reasonFor maps a token verification error to the reason ValidateToken reports.
func reasonFor(err error) stepupv1.ValidationReason {
	switch {
	case errors.Is(err, token.ErrExpired):
		return stepupv1.ValidationReason_VALIDATION_REASON_EXPIRED
	case errors.Is(err, token.ErrNotYetValid):
		return stepupv1.ValidationReason_VALIDATION_REASON_NOT_YET_VALID
	case errors.Is(err, token.ErrBadSignature):
		return stepupv1.ValidationReason_VALIDATION_REASON_BAD_SIGNATURE
	case errors.Is(err, token.ErrUnknownKey):
		return stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_KEY
	case errors.Is(err, token.ErrWrongIssuer):
		return stepupv1.ValidationReason_VALIDATION_REASON_WRONG_ISSUER
	case errors.Is(err, token.ErrWrongAudience):
		return stepupv1.ValidationReason_VALIDATION_REASON_WRONG_AUDIENCE
	case errors.Is(err, token.ErrWrongType):
		return stepupv1.ValidationReason_VALIDATION_REASON_WRONG_TYPE
	case errors.Is(err, token.ErrInsufficientACR):
		return stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR
	case errors.Is(err, token.ErrAuthTooOld):
		return stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD
	default:
		return stepupv1.ValidationReason_VALIDATION_REASON_MALFORMED
	}
}

// requireStepUp fails with the RFC 9470-style step-up error unless the caller has a
// recent enough aal2 authentication.
func (s *Server) requireStepUp(c *caller) error { return s.requireACR(c, token.ACR2) }

// requireACR fails with the step-up error unless the caller authenticated at acr or
// above within StepUpMaxAge, counting an email step-up as aal2 only if EmailIsAAL2.
func (s *Server) requireACR(c *caller, acr string) error {
	req := token.Requirement{ACR: acr, MaxAge: s.cfg.StepUpMaxAge, EmailIsAAL2: s.cfg.EmailIsAAL2}
	if err := c.claims.Satisfies(req, s.cfg.Now()); err != nil {
		return token.StepUpError(req)
	}
	return nil
}
