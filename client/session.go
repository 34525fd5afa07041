package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// CodeFunc obtains the one-time code for a second-factor challenge, typically by
// asking the user. It must not log the code.
type CodeFunc func(ctx context.Context,
	challenge *stepupv1.ChallengeSecondFactorResponse) (string, error)

// Session holds one user's current access token and refresh token. It is safe for
// concurrent use, and is itself credentials.PerRPCCredentials: every call made with
// it sends the token current at that moment, so Login, Refresh and StepUp take effect
// on the next call. Pass it with grpc.PerRPCCredentials(s) or
// grpc.WithPerRPCCredentials(s). It demands transport security unless its Client was
// dialed with Plaintext.
type Session struct {
	client *Client

	mu        sync.RWMutex
	access    string
	accessExp time.Time
	refresh   string
	factors   []stepupv1.Factor

	// stepUpMu runs one step-up at a time, so concurrent calls that all hit a step-up
	// error do not each start a challenge.
	stepUpMu sync.Mutex
}

// AccessToken returns the current access token, or "" after Logout.
func (s *Session) AccessToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.access
}

// ExpiresAt returns when the current access token expires, as stepup reported it, or
// the zero time if it is not known (for a Session made with NewSession).
func (s *Session) ExpiresAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.accessExp
}

// Factors returns the second factors the user had enrolled at Login.
func (s *Session) Factors() []stepupv1.Factor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]stepupv1.Factor(nil), s.factors...)
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (s *Session) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok := s.AccessToken()
	if tok == "" {
		return nil, ErrNoToken
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (s *Session) RequireTransportSecurity() bool { return !s.client.plaintext }

// setAccess swaps in a new access token, and a new refresh token if refresh is set.
func (s *Session) setAccess(access string, exp time.Time, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access, s.accessExp = access, exp
	if refresh != "" {
		s.refresh = refresh
	}
}

// Refresh trades the refresh token for a new access token and refresh token. The new
// access token is aal1: stepup never carries a step-up over a refresh.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.RLock()
	rt := s.refresh
	s.mu.RUnlock()
	if rt == "" {
		return ErrNoToken
	}
	resp, err := s.client.auth.RefreshToken(ctx, &stepupv1.RefreshTokenRequest{RefreshToken: rt})
	if err != nil {
		return err
	}
	s.setAccess(resp.GetAccessToken(), resp.GetExpiresAt().AsTime(), resp.GetRefreshToken())
	return nil
}

// Logout ends the session at stepup and forgets both tokens, even if the call fails:
// a token the user asked to drop is not sent again.
func (s *Session) Logout(ctx context.Context) error {
	_, err := s.client.auth.Logout(ctx, &stepupv1.LogoutRequest{}, grpc.PerRPCCredentials(s))
	s.mu.Lock()
	s.access, s.refresh, s.accessExp = "", "", time.Time{}
	s.mu.Unlock()
	return err
}

// StepUp proves a second factor: it starts a challenge for factor, asks getCode for
// the code, and on success makes the returned aal2 token the session's token.
func (s *Session) StepUp(ctx context.Context, factor stepupv1.Factor, getCode CodeFunc) error {
	creds := grpc.PerRPCCredentials(s)
	ch, err := s.client.auth.ChallengeSecondFactor(ctx,
		&stepupv1.ChallengeSecondFactorRequest{Factor: factor}, creds)
	if err != nil {
		return err
	}
	code, err := getCode(ctx, ch)
	if err != nil {
		return fmt.Errorf("client: getting the second-factor code: %w", err)
	}
	resp, err := s.client.auth.VerifySecondFactor(ctx, &stepupv1.VerifySecondFactorRequest{
		ChallengeId: ch.GetChallengeId(), Code: code,
	}, creds)
	if err != nil {
		return err
	}
	s.setAccess(resp.GetAccessToken(), resp.GetExpiresAt().AsTime(), "")
	return nil
}

// CallWithStepUp runs call. If it fails with a step-up error (token.ParseStepUpError),
// CallWithStepUp steps up with factor and getCode and runs call once more, so call
// must send the session's token (grpc.PerRPCCredentials(s)) and be safe to repeat.
// Any other error, or a second step-up error, is returned as it is. A step-up error
// that demands an acr no second factor gives is returned wrapped in ErrCannotStepUp,
// without asking for a code. Concurrent callers step up one at a time, and one that
// finds the token already replaced retries with it instead of asking again.
func (s *Session) CallWithStepUp(ctx context.Context, factor stepupv1.Factor, getCode CodeFunc,
	call func(ctx context.Context) error) error {
	before := s.AccessToken()
	err := call(ctx)
	req, ok := token.ParseStepUpError(err)
	if !ok {
		return err
	}
	if !reachable(req) {
		return fmt.Errorf("%w: %w", ErrCannotStepUp, err)
	}
	if err := s.stepUpOnce(ctx, before, factor, getCode); err != nil {
		return err
	}
	return call(ctx)
}

// stepUpOnce steps up unless another goroutine replaced the token since before was
// read, in which case that token is tried first.
func (s *Session) stepUpOnce(ctx context.Context, before string, factor stepupv1.Factor,
	getCode CodeFunc) error {
	s.stepUpMu.Lock()
	defer s.stepUpMu.Unlock()
	if s.AccessToken() != before {
		return nil
	}
	return s.StepUp(ctx, factor, getCode)
}

// reachable reports whether the best token a step-up gives, aal2, would meet r's acr
// (a fresh step-up meets any max_age). It asks token's own rules rather than listing
// acr values here, so an acr this package has not heard of is judged as servers
// judge it.
func reachable(r token.Requirement) bool {
	best := &token.Claims{ACR: token.ACR2}
	return best.Satisfies(token.Requirement{ACR: r.ACR}, time.Time{}) == nil
}
