package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// validateRemote asks stepup's ValidateToken, passing rule as required_acr and
// max_age, and maps the verdict onto the errors local verification returns. Input
// that cannot be a token is refused here, so junk costs no round trip.
func (v *Verifier) validateRemote(ctx context.Context, raw string, rule Rule,
) (*token.Claims, error) {
	if err := token.Prefilter(raw); err != nil {
		return nil, err
	}
	req := &stepupv1.ValidateTokenRequest{Token: raw, RequiredAcr: rule.ACR, Audience: v.cfg.Audience}
	if rule.MaxAge > 0 {
		req.MaxAge = durationpb.New(rule.MaxAge)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.tuning.rpcTimeout)
	defer cancel()
	resp, err := v.auth.ValidateToken(ctx, req)
	if err != nil {
		// The status may describe the request (an unknown required_acr), never the
		// token, but it is kept out of the answer all the same.
		err = fmt.Errorf("%w: %w", ErrUnreachable, err)
		v.warnRemote(err)
		return nil, err
	}
	return v.remoteVerdict(resp)
}

// remoteWarnEvery spaces out the Warn lines of a stepup outage in Remote mode.
const remoteWarnEvery = 10 * time.Second

// warnRemote logs a failed ValidateToken at Warn, at most once per remoteWarnEvery.
func (v *Verifier) warnRemote(err error) {
	now := v.cfg.Now().UnixNano()
	last := v.lastRemoteWarn.Load()
	if now-last < int64(remoteWarnEvery) || !v.lastRemoteWarn.CompareAndSwap(last, now) {
		return
	}
	v.log.Warn("ValidateToken failed: refusing calls with Unavailable", logErr, err)
}

// remoteVerdict turns a ValidateToken answer into claims or an error. Stepup checks
// the audience against its own configuration, so whatever claims come back are also
// checked against this service's issuer and audience, before anything else: a token
// stepup accepts may be meant for another service, and must not earn a step-up
// challenge here either.
func (v *Verifier) remoteVerdict(resp *stepupv1.ValidateTokenResponse) (*token.Claims, error) {
	var c *token.Claims
	if resp.GetClaims() != nil {
		c = claimsOf(resp.GetClaims())
		c.Actor = resp.GetActor()
		if err := v.forUs(c); err != nil {
			return nil, err
		}
	}
	switch reason := resp.GetReason(); {
	case reason == stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR:
		return nil, token.ErrInsufficientACR
	case reason == stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD:
		return nil, token.ErrAuthTooOld
	case !resp.GetValid() || reason != stepupv1.ValidationReason_VALIDATION_REASON_OK || c == nil:
		return nil, fmt.Errorf("%w: %s", ErrRemoteRejected, reason)
	}
	return c, nil
}

func (v *Verifier) forUs(c *token.Claims) error {
	if c.Issuer != v.cfg.Issuer {
		return token.ErrWrongIssuer
	}
	if !slices.Contains(c.Audience, v.cfg.Audience) {
		return token.ErrWrongAudience
	}
	return nil
}

// claimsOf converts stepup's claims message. The message has no nbf; stepup always
// issues nbf equal to iat, so that is what NotBefore gets.
func claimsOf(p *stepupv1.Claims) *token.Claims {
	return &token.Claims{
		Issuer:    p.GetIssuer(),
		Subject:   p.GetSubject(),
		ClientID:  p.GetClientId(),
		ID:        p.GetTokenId(),
		SessionID: p.GetSessionId(),
		ACR:       p.GetAcr(),
		Audience:  p.GetAudience(),
		AMR:       p.GetAmr(),
		IssuedAt:  relevantUntil(p.GetIssuedAt()),
		NotBefore: relevantUntil(p.GetIssuedAt()),
		Expiry:    relevantUntil(p.GetExpiresAt()),
		AuthTime:  relevantUntil(p.GetAuthTime()), // zero, not 1970, when absent
	}
}
