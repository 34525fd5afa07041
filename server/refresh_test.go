package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

func (h *harness) refresh(raw string) (*stepupv1.RefreshTokenResponse, error) {
	return h.auth.RefreshToken(h.ctx(), &stepupv1.RefreshTokenRequest{RefreshToken: raw})
}

// TestRefreshRotation: each refresh returns a new refresh token; presenting a spent one
// ends the session, so every token of that session stops working and other sessions
// carry on.
func TestRefreshRotation(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	login, other := h.login("alice"), h.login("alice")

	r1, err := h.refresh(login.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if r1.GetRefreshToken() == login.GetRefreshToken() || r1.GetAccessToken() == login.GetAccessToken() {
		t.Fatal("refresh did not rotate")
	}
	r2, err := h.refresh(r1.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}

	_, err = h.refresh(login.GetRefreshToken())
	if string(statusBytes(t, err)) != string(statusBytes(t, errBadRefresh)) {
		t.Fatalf("reused refresh token: %v", err)
	}
	for _, tok := range []string{login.GetAccessToken(), r1.GetAccessToken(), r2.GetAccessToken()} {
		if r := h.reason(tok); r != stepupv1.ValidationReason_VALIDATION_REASON_REVOKED {
			t.Fatalf("access token of the ended session: %v", r)
		}
	}
	_, err = h.refresh(r2.GetRefreshToken())
	wantCode(t, err, codes.Unauthenticated)

	if r := h.reason(other.GetAccessToken()); r != stepupv1.ValidationReason_VALIDATION_REASON_OK {
		t.Fatalf("another session's token: %v", r)
	}
	if _, err := h.refresh(other.GetRefreshToken()); err != nil {
		t.Fatalf("another session's refresh: %v", err)
	}
}

// TestRefreshRefused: a refresh token stops working with its session, its user, or its
// own validity, and every refusal reads the same.
func TestRefreshRefused(t *testing.T) {
	const sessionTTL = 12 * time.Hour
	admin := func(call func(h *harness, ref *stepupv1.UserRef) error) func(*harness, *stepupv1.LoginResponse) string {
		return func(h *harness, l *stepupv1.LoginResponse) string {
			if err := call(h, userRef(h.claimsOf(l.GetAccessToken()).Subject)); err != nil {
				h.t.Fatal(err)
			}
			return l.GetRefreshToken()
		}
	}
	later := func(d time.Duration) func(*harness, *stepupv1.LoginResponse) string {
		return func(h *harness, l *stepupv1.LoginResponse) string {
			h.clock.Advance(d)
			return l.GetRefreshToken()
		}
	}
	tests := []struct {
		name  string
		token func(h *harness, l *stepupv1.LoginResponse) string
		want  codes.Code
	}{
		{"session 1s from its end", later(sessionTTL - time.Second), codes.OK},
		{"session at its end", later(sessionTTL), codes.Unauthenticated},
		{"session past its end", later(sessionTTL + time.Hour), codes.Unauthenticated},
		{"user disabled", admin(func(h *harness, ref *stepupv1.UserRef) error {
			_, err := h.admin.DisableUser(h.ctx(), &stepupv1.DisableUserRequest{User: ref})
			return err
		}), codes.Unauthenticated},
		{"user tokens revoked", admin(func(h *harness, ref *stepupv1.UserRef) error {
			_, err := h.admin.RevokeUserTokens(h.ctx(), &stepupv1.RevokeUserTokensRequest{User: ref})
			return err
		}), codes.Unauthenticated},
		{"logged out", func(h *harness, l *stepupv1.LoginResponse) string {
			if _, err := h.auth.Logout(h.bearer(l.GetAccessToken()), &stepupv1.LogoutRequest{}); err != nil {
				h.t.Fatal(err)
			}
			return l.GetRefreshToken()
		}, codes.Unauthenticated},
		{"unknown", func(*harness, *stepupv1.LoginResponse) string { return "srt_unknown" }, codes.Unauthenticated},
		{"empty", func(*harness, *stepupv1.LoginResponse) string { return "" }, codes.Unauthenticated},
		{"257 bytes", func(_ *harness, l *stepupv1.LoginResponse) string {
			return l.GetRefreshToken() + strings.Repeat("x", 257-len(l.GetRefreshToken()))
		}, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.SessionTTL = sessionTTL })
			h.createUser("alice")
			_, err := h.refresh(tc.token(h, h.login("alice")))
			wantCode(t, err, tc.want)
			if tc.want != codes.OK && string(statusBytes(t, err)) != string(statusBytes(t, errBadRefresh)) {
				t.Fatalf("refusal %v differs from %v", err, errBadRefresh)
			}
		})
	}
}

// TestRefreshDropsStepUp: a refreshed token is aal1 even when the session stepped up,
// keeps the login's auth_time, and belongs to the same session.
func TestRefreshDropsStepUp(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	login := h.login("alice")
	secret := h.enrollTOTP(login.GetAccessToken())
	aal2 := h.stepUp(login.GetAccessToken(), secret)
	if c := h.claimsOf(aal2); c.ACR != "aal2" || !c.AuthTime.After(epoch) {
		t.Fatalf("step-up claims: acr %s auth_time %v", c.ACR, c.AuthTime)
	}
	h.clock.Advance(time.Minute)

	r, err := h.refresh(login.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	c := h.claimsOf(r.GetAccessToken())
	if c.ACR != "aal1" || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Fatalf("refreshed token acr %s amr %v, want aal1 [pwd]", c.ACR, c.AMR)
	}
	if !c.AuthTime.Equal(epoch) {
		t.Fatalf("refreshed auth_time %v, want the login time %v", c.AuthTime, epoch)
	}
	if c.SessionID != h.claimsOf(login.GetAccessToken()).SessionID {
		t.Fatal("refreshed token belongs to another session")
	}
	if !c.IssuedAt.Equal(h.clock.Now()) {
		t.Fatalf("refreshed iat %v, want now %v", c.IssuedAt, h.clock.Now())
	}
}
