package fakestepup

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

var (
	errBadLogin = status.Error(codes.Unauthenticated, "invalid username or password")
	errNoChall  = status.Error(codes.NotFound, "challenge not found, expired or already used")
	errBadCode  = status.Error(codes.Unauthenticated, "invalid code")
)

// Login implements AuthService: any username, password Password; the user id is
// "u_"+username.
func (s *Server) Login(_ context.Context, req *stepupv1.LoginRequest,
) (*stepupv1.LoginResponse, error) {
	s.count("Login")
	if req.GetPassword() != Password || req.GetUsername() == "" {
		return nil, errBadLogin
	}
	c := s.NewClaims("u_"+req.GetUsername(), token.ACR1)
	c.Expiry = c.IssuedAt.Add(AccessTTL)
	rt := s.nextID("rt-")
	s.mu.Lock()
	s.refresh[rt] = c
	s.mu.Unlock()
	return &stepupv1.LoginResponse{
		AccessToken: s.Sign(c), ExpiresAt: ts(c.Expiry), RefreshToken: rt,
		Factors: []stepupv1.Factor{stepupv1.Factor_FACTOR_TOTP},
	}, nil
}

// RefreshToken implements AuthService: single-use refresh tokens, aal1 answers.
func (s *Server) RefreshToken(_ context.Context, req *stepupv1.RefreshTokenRequest,
) (*stepupv1.RefreshTokenResponse, error) {
	s.count("RefreshToken")
	s.mu.Lock()
	old, ok := s.refresh[req.GetRefreshToken()]
	delete(s.refresh, req.GetRefreshToken())
	s.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "invalid refresh token")
	}
	c := s.NewClaims(old.Subject, token.ACR1)
	c.AuthTime, c.Expiry = old.AuthTime, c.IssuedAt.Add(AccessTTL)
	rt := s.nextID("rt-")
	s.mu.Lock()
	s.refresh[rt] = c
	s.mu.Unlock()
	return &stepupv1.RefreshTokenResponse{
		AccessToken: s.Sign(c), ExpiresAt: ts(c.Expiry), RefreshToken: rt,
	}, nil
}

// Logout implements AuthService: it ends the caller's session and pushes that to the
// revocation streams.
func (s *Server) Logout(ctx context.Context, _ *stepupv1.LogoutRequest,
) (*stepupv1.LogoutResponse, error) {
	s.count("Logout")
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	s.Push(EndedSession(c.SessionID, s.clock.Now().Add(AccessTTL)))
	return &stepupv1.LogoutResponse{}, nil
}

// ChallengeSecondFactor implements AuthService.
func (s *Server) ChallengeSecondFactor(ctx context.Context, req *stepupv1.ChallengeSecondFactorRequest,
) (*stepupv1.ChallengeSecondFactorResponse, error) {
	s.count("ChallengeSecondFactor")
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetFactor() != stepupv1.Factor_FACTOR_TOTP {
		return nil, status.Error(codes.FailedPrecondition, "factor not enrolled")
	}
	id := s.nextID("ch-")
	s.mu.Lock()
	s.challenges[id] = c
	s.mu.Unlock()
	exp := ts(s.clock.Now().Add(StepUpTTL))
	return &stepupv1.ChallengeSecondFactorResponse{ChallengeId: id, ExpiresAt: exp}, nil
}

// VerifySecondFactor implements AuthService: code Code on a challenge of the same
// session gives an aal2 token; a challenge is used up either way.
func (s *Server) VerifySecondFactor(ctx context.Context, req *stepupv1.VerifySecondFactorRequest,
) (*stepupv1.VerifySecondFactorResponse, error) {
	s.count("VerifySecondFactor")
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ch, ok := s.challenges[req.GetChallengeId()]
	delete(s.challenges, req.GetChallengeId())
	s.mu.Unlock()
	if !ok || ch.SessionID != c.SessionID {
		return nil, errNoChall
	}
	if req.GetCode() != Code {
		return nil, errBadCode
	}
	up := s.NewClaims(c.Subject, token.ACR2)
	return &stepupv1.VerifySecondFactorResponse{AccessToken: s.Sign(up), ExpiresAt: ts(up.Expiry)}, nil
}

// SetValidate makes ValidateToken answer with f; nil restores the fake's own check.
func (s *Server) SetValidate(f ValidateFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.validate = f
}

// LastValidateRequest returns the last ValidateToken request.
func (s *Server) LastValidateRequest() *stepupv1.ValidateTokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReq
}

// ValidateToken implements AuthService: signature, claims and requirement, without
// revocation.
func (s *Server) ValidateToken(_ context.Context, req *stepupv1.ValidateTokenRequest,
) (*stepupv1.ValidateTokenResponse, error) {
	s.count("ValidateToken")
	s.mu.Lock()
	s.lastReq = req
	f := s.validate
	s.mu.Unlock()
	if f != nil {
		return f(req)
	}
	c, err := s.verifier().Verify(req.GetToken())
	if err != nil {
		return &stepupv1.ValidateTokenResponse{Reason: stepupv1.ValidationReason_VALIDATION_REASON_MALFORMED}, nil
	}
	resp := &stepupv1.ValidateTokenResponse{
		Valid: true, Reason: stepupv1.ValidationReason_VALIDATION_REASON_OK, Claims: ClaimsProto(c),
	}
	r := token.Requirement{ACR: req.GetRequiredAcr(), MaxAge: req.GetMaxAge().AsDuration()}
	switch err := c.Satisfies(r, s.clock.Now()); {
	case errors.Is(err, token.ErrInsufficientACR):
		resp.Valid, resp.Reason = false, stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR
	case errors.Is(err, token.ErrAuthTooOld):
		resp.Valid, resp.Reason = false, stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD
	}
	return resp, nil
}

// ClaimsProto converts claims as stepup's ValidateToken does.
func ClaimsProto(c *token.Claims) *stepupv1.Claims {
	return &stepupv1.Claims{
		Subject: c.Subject, Acr: c.ACR, Amr: c.AMR, AuthTime: ts(c.AuthTime),
		ExpiresAt: ts(c.Expiry), IssuedAt: ts(c.IssuedAt), TokenId: c.ID,
		SessionId: c.SessionID, Issuer: c.Issuer, Audience: c.Audience, ClientId: c.ClientID,
	}
}

// ListFactors implements AccountService: every user has TOTP.
func (s *Server) ListFactors(ctx context.Context, _ *stepupv1.ListFactorsRequest,
) (*stepupv1.ListFactorsResponse, error) {
	s.count("ListFactors")
	if _, err := s.caller(ctx); err != nil {
		return nil, err
	}
	return &stepupv1.ListFactorsResponse{Factors: []*stepupv1.EnrolledFactor{
		{Factor: stepupv1.Factor_FACTOR_TOTP},
	}}, nil
}

// RemoveFactor implements AccountService: it demands aal2 within StepUpMaxAge, as
// stepup does, and otherwise removes nothing.
func (s *Server) RemoveFactor(ctx context.Context, _ *stepupv1.RemoveFactorRequest,
) (*stepupv1.RemoveFactorResponse, error) {
	s.count("RemoveFactor")
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	r := token.Requirement{ACR: token.ACR2, MaxAge: StepUpMaxAge}
	if c.Satisfies(r, s.clock.Now()) != nil {
		return nil, token.StepUpError(r)
	}
	return &stepupv1.RemoveFactorResponse{}, nil
}
