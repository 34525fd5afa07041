package server

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"time"

	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// newID returns a random identifier with the given prefix: 128 bits, base64url.
func (s *Server) newID(prefix string) (string, error) {
	b, err := s.random(16)
	if err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, err
	}
	return b, nil
}

// grant describes the token to issue.
type grant struct {
	user     *store.User
	session  *store.Session
	acr      string
	amr      []string
	authTime time.Time
	ttl      time.Duration
}

// issue signs an access token for g. The lifetime never reaches past the session's end.
func (s *Server) issue(g grant) (string, time.Time, error) {
	now := s.cfg.Now().Truncate(time.Second)
	exp := now.Add(g.ttl)
	if g.session.ExpiresAt.Before(exp) {
		exp = g.session.ExpiresAt.Truncate(time.Second)
	}
	jti, err := s.newID("")
	if err != nil {
		return "", time.Time{}, err
	}
	claims := &token.Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   g.user.ID,
		Audience:  []string{s.cfg.Audience},
		ClientID:  s.cfg.ClientID,
		ID:        jti,
		SessionID: g.session.ID,
		ACR:       g.acr,
		AMR:       g.amr,
		IssuedAt:  now,
		NotBefore: now,
		Expiry:    exp,
		AuthTime:  g.authTime.Truncate(time.Second),
	}
	raw, err := s.keys.current().signer.Sign(claims)
	if err != nil {
		return "", time.Time{}, err
	}
	return raw, exp, nil
}

// newRefreshToken makes an opaque refresh token for a session and the record that
// stores only its hash. 256 random bits, so an unsalted SHA-256 is enough to store it.
func (s *Server) newRefreshToken(sess *store.Session) (string, *store.RefreshToken, error) {
	b, err := s.random(32)
	if err != nil {
		return "", nil, err
	}
	raw := "srt_" + base64.RawURLEncoding.EncodeToString(b)
	rec := &store.RefreshToken{
		Hash:      hashRefresh(raw),
		SessionID: sess.ID,
		UserID:    sess.UserID,
		IssuedAt:  s.cfg.Now(),
		ExpiresAt: sess.ExpiresAt,
	}
	return raw, rec, nil
}

func hashRefresh(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}
