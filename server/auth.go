package server

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// Input bounds. They are checked before any work, so oversized input costs nothing.
const (
	maxUsernameLen = 128
	maxPasswordLen = 1024
	maxCodeLen     = 64
	maxIDLen       = 64
)

// Login checks a password and starts a session with an aal1 token and a refresh token.
func (s *Server) Login(ctx context.Context, req *stepupv1.LoginRequest) (*stepupv1.LoginResponse, error) {
	if req.GetUsername() == "" || len(req.GetUsername()) > maxUsernameLen ||
		req.GetPassword() == "" || len(req.GetPassword()) > maxPasswordLen {
		return nil, errBadLogin
	}
	keys := loginKeys(ctx, req.GetUsername())
	if err := s.throttled(keys...); err != nil {
		return nil, err
	}
	user, err := s.checkPassword(ctx, req.GetUsername(), req.GetPassword())
	if err != nil {
		if errors.Is(err, errBadLogin) {
			s.failedLogin(keys)
			s.log.WarnContext(ctx, "login failed", logPeer, peerHost(ctx))
		}
		return nil, s.toStatus(ctx, "login", err)
	}
	s.userThrottle.Success(keys[0])
	return s.startSession(ctx, user)
}

// loginKeys are the throttle keys of a password check: the username, folded as the
// store compares usernames, and the client address.
func loginKeys(ctx context.Context, username string) []string {
	return []string{"u:" + store.FoldUsername(username), "a:" + peerHost(ctx)}
}

// failedLogin counts a wrong password against both keys.
func (s *Server) failedLogin(keys []string) {
	s.userThrottle.Failure(keys[0])
	s.addrThrottle.Failure(keys[1])
}

// throttled refuses a password check while the username or the client address is in
// back-off. Unknown usernames are throttled like known ones so the answer tells nothing.
func (s *Server) throttled(keys ...string) error {
	var wait time.Duration
	limited := false
	for i, key := range keys {
		l := s.userThrottle
		if i > 0 {
			l = s.addrThrottle
		}
		if retry, ok := l.Check(key); !ok {
			limited = true
			wait = max(wait, retry)
		}
	}
	if limited {
		return tooMany("too many failed logins, try again later", wait)
	}
	return nil
}

// checkPassword returns the user if the password is right and the user enabled. Every
// failure is errBadLogin, and an unknown user costs the same argon2id work.
func (s *Server) checkPassword(ctx context.Context, username, pw string) (*store.User, error) {
	var user *store.User
	err := s.store.View(func(tx *store.Tx) error {
		var err error
		user, err = tx.UserByUsername(username)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, err
		}
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	ok, err := s.hasher.Verify(ctx, user.PasswordHash, pw)
	if err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return nil, err
	}
	if !ok || user.Disabled {
		return nil, errBadLogin
	}
	s.maybeRehash(ctx, user, pw)
	return user, nil
}

// maybeRehash upgrades a password hash made with older, weaker parameters. A failure
// only means the upgrade waits for the next login.
func (s *Server) maybeRehash(ctx context.Context, user *store.User, pw string) {
	if !s.hasher.NeedsRehash(user.PasswordHash) {
		return
	}
	encoded, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	err = s.store.Update(func(tx *store.Tx) error {
		u, err := tx.User(user.ID)
		if err != nil {
			return err
		}
		u.PasswordHash = encoded
		return tx.PutUser(u)
	})
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", logUserID, user.ID, logErr, err)
	}
}

// startSession creates a session, its first refresh token and an aal1 access token.
func (s *Server) startSession(ctx context.Context, user *store.User) (*stepupv1.LoginResponse, error) {
	now := s.cfg.Now()
	sid, err := s.newID("")
	if err != nil {
		return nil, s.toStatus(ctx, "login", err)
	}
	sess := &store.Session{ID: sid, UserID: user.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	refresh, rec, err := s.newRefreshToken(sess)
	if err != nil {
		return nil, s.toStatus(ctx, "login", err)
	}
	err = s.store.Update(func(tx *store.Tx) error {
		if err := tx.PutSession(sess); err != nil {
			return err
		}
		return tx.PutRefreshToken(rec)
	})
	if err != nil {
		return nil, s.toStatus(ctx, "login", err)
	}
	access, exp, err := s.issue(grant{user: user, session: sess, acr: token.ACR1,
		amr: []string{token.AMRPassword}, authTime: now, ttl: s.cfg.AccessTokenTTL})
	if err != nil {
		return nil, s.toStatus(ctx, "login", err)
	}
	s.log.InfoContext(ctx, "login", logUserID, user.ID, logSessionID, sid)
	return &stepupv1.LoginResponse{
		AccessToken:      access,
		ExpiresAt:        timestamppb.New(exp),
		Factors:          enrolledFactors(user),
		RefreshToken:     refresh,
		RefreshExpiresAt: timestamppb.New(sess.ExpiresAt),
	}, nil
}

// Logout ends the caller's session.
func (s *Server) Logout(ctx context.Context, _ *stepupv1.LogoutRequest) (*stepupv1.LogoutResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	batch := s.newBatch()
	err = s.store.Update(func(tx *store.Tx) error {
		return endSession(tx, c.claims.SessionID, "logout", s.cfg.Now(), batch)
	})
	if err != nil {
		return nil, s.toStatus(ctx, "logout", err)
	}
	s.revocations.publish(batch)
	s.log.InfoContext(ctx, "logout", logUserID, c.user.ID, logSessionID, c.claims.SessionID)
	return &stepupv1.LogoutResponse{}, nil
}

// endSession marks a session ended and adds it to batch; ending an ended or missing
// session is a no-op.
func endSession(tx *store.Tx, sid, reason string, now time.Time, batch *revBatch) error {
	sess, err := tx.Session(sid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sess.EndedAt.IsZero() {
		return nil
	}
	sess.EndedAt, sess.EndReason = now, reason
	batch.endedSession(sess)
	return tx.PutSession(sess)
}

// RefreshToken trades a refresh token for a new pair. A token presented a second time
// ends the whole session: either the client or a thief replayed it, and we cannot tell
// which (OAuth 2.0 Security BCP, refresh token rotation).
func (s *Server) RefreshToken(ctx context.Context, req *stepupv1.RefreshTokenRequest) (*stepupv1.RefreshTokenResponse, error) {
	raw := req.GetRefreshToken()
	if raw == "" || len(raw) > 256 {
		return nil, errBadRefresh
	}
	now := s.cfg.Now()
	var (
		user    *store.User
		sess    *store.Session
		next    string
		reused  bool
		outcome error
		batch   = s.newBatch()
	)
	err := s.store.Update(func(tx *store.Tx) error {
		rec, err := tx.RefreshToken(hashRefresh(raw))
		if errors.Is(err, store.ErrNotFound) {
			outcome = errBadRefresh
			return nil
		}
		if err != nil {
			return err
		}
		if !rec.UsedAt.IsZero() {
			reused, outcome = true, errBadRefresh
			return endSession(tx, rec.SessionID, "refresh_reuse", now, batch)
		}
		user, sess, err = refreshable(tx, rec, now)
		if errors.Is(err, errBadRefresh) {
			outcome = err
			return nil
		}
		if err != nil {
			return err
		}
		rec.UsedAt = now
		if err := tx.PutRefreshToken(rec); err != nil {
			return err
		}
		var newRec *store.RefreshToken
		if next, newRec, err = s.newRefreshToken(sess); err != nil {
			return err
		}
		return tx.PutRefreshToken(newRec)
	})
	if err != nil {
		return nil, s.toStatus(ctx, "refresh", err)
	}
	s.revocations.publish(batch)
	if reused {
		s.log.WarnContext(ctx, "refresh token reused: session ended", logPeer, peerHost(ctx))
	}
	if outcome != nil {
		return nil, outcome
	}
	// A step-up is never carried over: a refreshed token is aal1 with the login's auth_time.
	access, exp, err := s.issue(grant{user: user, session: sess, acr: token.ACR1,
		amr: []string{token.AMRPassword}, authTime: sess.CreatedAt, ttl: s.cfg.AccessTokenTTL})
	if err != nil {
		return nil, s.toStatus(ctx, "refresh", err)
	}
	return &stepupv1.RefreshTokenResponse{
		AccessToken:      access,
		ExpiresAt:        timestamppb.New(exp),
		RefreshToken:     next,
		RefreshExpiresAt: timestamppb.New(sess.ExpiresAt),
	}, nil
}

// refreshable loads the session and user of a refresh token, or errBadRefresh when they
// may no longer refresh.
func refreshable(tx *store.Tx, rec *store.RefreshToken, now time.Time) (*store.User, *store.Session, error) {
	if !now.Before(rec.ExpiresAt) {
		return nil, nil, errBadRefresh
	}
	sess, err := tx.Session(rec.SessionID)
	if err != nil {
		return nil, nil, notFoundAs(err, errBadRefresh)
	}
	user, err := tx.User(rec.UserID)
	if err != nil {
		return nil, nil, notFoundAs(err, errBadRefresh)
	}
	if sess.Ended(now) || user.Disabled || sess.CreatedAt.Before(user.TokensNotBefore) {
		return nil, nil, errBadRefresh
	}
	return user, sess, nil
}

// notFoundAs replaces store.ErrNotFound with the given answer and keeps other errors.
func notFoundAs(err, answer error) error {
	if errors.Is(err, store.ErrNotFound) {
		return answer
	}
	return err
}

// ValidateToken checks a token for a relying service. The verdict is in the response;
// an RPC error means the request itself was bad or stepup could not answer.
func (s *Server) ValidateToken(ctx context.Context, req *stepupv1.ValidateTokenRequest) (*stepupv1.ValidateTokenResponse, error) {
	reqmt, err := s.requirementOf(req)
	if err != nil {
		return nil, err
	}
	v, err := s.verifierFor(req.GetAudience())
	if err != nil {
		return nil, err
	}
	res := s.checkWith(v, req.GetToken())
	if res.err != nil {
		return nil, s.toStatus(ctx, "validate", res.err)
	}
	if res.reason == stepupv1.ValidationReason_VALIDATION_REASON_OK {
		if err := res.claims.Satisfies(reqmt, s.cfg.Now()); err != nil {
			res.reason = reasonFor(err)
		}
	}
	resp := &stepupv1.ValidateTokenResponse{
		Valid:  res.reason == stepupv1.ValidationReason_VALIDATION_REASON_OK,
		Reason: res.reason,
	}
	if res.claims != nil {
		resp.Claims = claimsProto(res.claims)
		resp.Actor = res.claims.Actor
	}
	return resp, nil
}

// requirementOf reads what the relying service asks of the token. Whether an email
// step-up counts as aal2 is stepup's policy, not the caller's.
func (s *Server) requirementOf(req *stepupv1.ValidateTokenRequest) (token.Requirement, error) {
	r := token.Requirement{EmailIsAAL2: s.cfg.EmailIsAAL2}
	switch acr := req.GetRequiredAcr(); acr {
	case "", token.ACR1, token.ACREmailOTP, token.ACR2:
		r.ACR = acr
	default:
		return r, invalidArg("required_acr", `must be empty, "aal1", "email-otp" or "aal2"`)
	}
	if req.MaxAge != nil {
		if err := req.MaxAge.CheckValid(); err != nil || req.MaxAge.AsDuration() <= 0 {
			return r, invalidArg("max_age", "must be a positive duration")
		}
		r.MaxAge = req.MaxAge.AsDuration()
	}
	return r, nil
}

func claimsProto(c *token.Claims) *stepupv1.Claims {
	var authTime *timestamppb.Timestamp
	if !c.AuthTime.IsZero() {
		authTime = timestamppb.New(c.AuthTime)
	}
	return &stepupv1.Claims{
		Subject:   c.Subject,
		Acr:       c.ACR,
		Amr:       c.AMR,
		AuthTime:  authTime,
		ExpiresAt: timestamppb.New(c.Expiry),
		IssuedAt:  timestamppb.New(c.IssuedAt),
		TokenId:   c.ID,
		SessionId: c.SessionID,
		Issuer:    c.Issuer,
		Audience:  c.Audience,
		ClientId:  c.ClientID,
	}
}

// peerHost is the client address used to throttle logins: the IP for TCP peers.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.Network()
}
