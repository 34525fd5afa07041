package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// TokenTypeAccessToken is the issued_token_type of every exchange (RFC 8693 §3).
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// errBadSubjectToken answers a subject token that is malformed, expired, revoked, of
// its session ended, not a user token, or not meant for the calling service: RFC
// 8693's invalid_request, without saying which.
var errBadSubjectToken = status.Error(codes.InvalidArgument,
	"subject_token: invalid, expired, revoked, or not issued to the calling service")

// ExchangeToken trades a user token that was presented to the calling service for a
// token for another registered service (RFC 8693). The new token keeps sub, sid, acr,
// amr and auth_time, so revocation of the session or the user reaches it; its
// client_id is the caller and its act chain gains the caller as the outermost actor.
func (s *Server) ExchangeToken(ctx context.Context, req *stepupv1.ExchangeTokenRequest) (*stepupv1.ExchangeTokenResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	actor := c.claims.Subject
	aud := req.GetAudience()
	if aud == s.cfg.Audience || !s.serviceActive(aud) {
		return nil, invalidArg("audience", "must be a registered service")
	}
	subject, err := s.exchangeable(actor, req.GetSubjectToken())
	if err != nil {
		return nil, s.toStatus(ctx, "exchange", err)
	}
	raw, exp, err := s.issueExchanged(subject, actor, aud)
	if err != nil {
		return nil, s.toStatus(ctx, "exchange", err)
	}
	s.log.InfoContext(ctx, "token exchanged", logUserID, subject.Subject,
		logSessionID, subject.SessionID, logService, actor, "audience", aud)
	return &stepupv1.ExchangeTokenResponse{
		AccessToken: raw, ExpiresAt: timestamppb.New(exp), IssuedTokenType: TokenTypeAccessToken,
	}, nil
}

// exchangeable checks the subject token as ValidateToken would for the calling
// service's audience, or for stepup's own, which is the audience of the tokens users
// get at login and present to edge services. A service may not exchange a token
// minted for another service, so a token stolen on its way there is no use to it.
// The token must be a live user token with room left in its act chain.
func (s *Server) exchangeable(actor, raw string) (*token.Claims, error) {
	v, err := s.verifierFor(actor)
	if err != nil {
		return nil, errBadSubjectToken
	}
	res := s.checkWith(v, raw)
	if res.reason == stepupv1.ValidationReason_VALIDATION_REASON_WRONG_AUDIENCE {
		res = s.check(raw)
	}
	if res.err != nil {
		return nil, res.err
	}
	if res.reason != stepupv1.ValidationReason_VALIDATION_REASON_OK || res.claims.IsService() {
		return nil, errBadSubjectToken
	}
	if len(res.claims.Actor) >= token.MaxActorDepth {
		return nil, invalidArg("subject_token", "act chain is already at its maximum depth")
	}
	return res.claims, nil
}

// issueExchanged signs the exchanged token. Its lifetime ends no later than the
// subject token's, so exchanging never extends how long a user's authorization lasts.
func (s *Server) issueExchanged(subject *token.Claims, actor, aud string) (string, time.Time, error) {
	now := s.cfg.Now().Truncate(time.Second)
	exp := now.Add(s.cfg.AccessTokenTTL)
	if subject.Expiry.Before(exp) {
		exp = subject.Expiry
	}
	if !exp.After(now) {
		return "", time.Time{}, errBadSubjectToken
	}
	jti, err := s.newID("")
	if err != nil {
		return "", time.Time{}, err
	}
	claims := &token.Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   subject.Subject,
		Audience:  []string{aud},
		ClientID:  actor,
		ID:        jti,
		SessionID: subject.SessionID,
		ACR:       subject.ACR,
		AMR:       subject.AMR,
		Actor:     append([]string{actor}, subject.Actor...),
		IssuedAt:  now,
		NotBefore: now,
		Expiry:    exp,
		AuthTime:  subject.AuthTime,
	}
	raw, err := s.keys.current().signer.Sign(claims)
	return raw, exp, err
}
