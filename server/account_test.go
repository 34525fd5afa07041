package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/throttle"
)

const newPassword = "a brand new passphrase"

// stepUpTimes separates the step-up max age (5m) from the aal2 token lifetime (10m), so a
// token can be too old for a sensitive call and still valid.
func stepUpTimes(c *Config) {
	c.StepUpMaxAge = 5 * time.Minute
	c.StepUpTokenTTL = 10 * time.Minute
	c.AccessTokenTTL = 15 * time.Minute
}

// accountCall is one account RPC made with a token.
type accountCall struct {
	name string
	call func(h *harness, tok string) error
}

var (
	removeTOTP = accountCall{"RemoveFactor", func(h *harness, tok string) error {
		_, err := h.account.RemoveFactor(h.bearer(tok), &stepupv1.RemoveFactorRequest{Factor: totpFactor})
		return err
	}}
	changePassword = accountCall{"ChangePassword", func(h *harness, tok string) error {
		return h.changePassword(tok, testPassword, newPassword)
	}}
	beginTOTP = accountCall{"BeginTotpEnrollment", func(h *harness, tok string) error {
		_, err := h.account.BeginTotpEnrollment(h.bearer(tok), &stepupv1.BeginTotpEnrollmentRequest{})
		return err
	}}
	recoveryCodes = accountCall{"CreateRecoveryCodes", func(h *harness, tok string) error {
		_, err := h.account.CreateRecoveryCodes(h.bearer(tok), &stepupv1.CreateRecoveryCodesRequest{})
		return err
	}}
)

// wantStepUpError checks the RFC 9470-style refusal: UNAUTHENTICATED with an ErrorInfo
// asking for aal2 within 300 seconds.
func wantStepUpError(t *testing.T, err error) {
	t.Helper()
	st := wantCode(t, err, codes.Unauthenticated)
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetReason() != "INSUFFICIENT_USER_AUTHENTICATION" {
			continue
		}
		if md := info.GetMetadata(); md["acr_values"] != "aal2" || md["max_age"] != "300" {
			t.Fatalf("ErrorInfo metadata %v, want acr_values=aal2 max_age=300", md)
		}
		return
	}
	t.Fatalf("no INSUFFICIENT_USER_AUTHENTICATION ErrorInfo in %v (%q)", st.Details(), st.Message())
}

// TestStepUpGates: with a second factor enrolled, changing factors or the password needs
// an aal2 authentication no older than StepUpMaxAge.
func TestStepUpGates(t *testing.T) {
	kinds := []struct {
		name   string
		token  func(h *harness, aal1, secret string) string
		refuse bool
	}{
		{"aal1", func(_ *harness, aal1, _ string) string { return aal1 }, true},
		{"aal2 older than max_age", func(h *harness, aal1, secret string) string {
			tok := h.stepUp(aal1, secret)
			h.clock.Advance(5*time.Minute + time.Second)
			if r := h.reason(tok); r != stepupv1.ValidationReason_VALIDATION_REASON_OK {
				t.Fatalf("the old aal2 token is %v, not merely too old", r)
			}
			return tok
		}, true},
		{"aal2 exactly max_age old", func(h *harness, aal1, secret string) string {
			tok := h.stepUp(aal1, secret)
			h.clock.Advance(5 * time.Minute)
			return tok
		}, false},
		{"fresh aal2", func(h *harness, aal1, secret string) string { return h.stepUp(aal1, secret) }, false},
	}
	for _, call := range []accountCall{removeTOTP, changePassword, beginTOTP, recoveryCodes} {
		for _, kind := range kinds {
			t.Run(call.name+"/"+kind.name, func(t *testing.T) {
				h := newHarness(t, stepUpTimes)
				aal1, secret := enrolledUser(h)
				err := call.call(h, kind.token(h, aal1, secret))
				if kind.refuse {
					wantStepUpError(t, err)
				} else if err != nil {
					t.Fatalf("%s: %v", call.name, err)
				}
			})
		}
	}
}

// TestNoFactorNoStepUp: a user without a second factor cannot step up, so enrolling the
// first one and changing the password work with the password alone.
func TestNoFactorNoStepUp(t *testing.T) {
	for _, call := range []accountCall{beginTOTP, recoveryCodes, changePassword} {
		t.Run(call.name, func(t *testing.T) {
			h := newHarness(t)
			h.createUser("alice")
			if err := call.call(h, h.login("alice").GetAccessToken()); err != nil {
				t.Fatalf("%s with aal1 and no factor: %v", call.name, err)
			}
		})
	}
}

// TestConfirmTotpNeedsStepUpOnceEnrolled: a TOTP enrollment begun while the user had no
// factor must not complete with the password alone after the user has enrolled one,
// or someone who knows only the password adds their authenticator.
func TestConfirmTotpNeedsStepUpOnceEnrolled(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	attacker := h.login("alice").GetAccessToken() // knows the password only
	begin, err := h.account.BeginTotpEnrollment(h.bearer(attacker), &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The user secures the account with recovery codes from their own session.
	if err := recoveryCodes.call(h, h.login("alice").GetAccessToken()); err != nil {
		t.Fatal(err)
	}
	wantStepUpError(t, h.confirmTOTP(attacker, h.code(begin.GetSecret())))
}

// TestChangePasswordEndsOtherSessions: the password change keeps the caller's session and
// ends every other one, access and refresh tokens alike.
func TestChangePasswordEndsOtherSessions(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	current, other := h.login("alice"), h.login("alice")
	if err := changePassword.call(h, current.GetAccessToken()); err != nil {
		t.Fatal(err)
	}

	if r := h.reason(current.GetAccessToken()); r != stepupv1.ValidationReason_VALIDATION_REASON_OK {
		t.Fatalf("caller's token: %v", r)
	}
	if r := h.reason(other.GetAccessToken()); r != stepupv1.ValidationReason_VALIDATION_REASON_REVOKED {
		t.Fatalf("other session's token: %v", r)
	}
	_, err := h.refresh(other.GetRefreshToken())
	wantCode(t, err, codes.Unauthenticated)
	if _, err := h.refresh(current.GetRefreshToken()); err != nil {
		t.Fatalf("caller's refresh: %v", err)
	}

	wantCode(t, h.tryLogin(h.clients, "alice", testPassword), codes.Unauthenticated)
	if err := h.tryLogin(h.clients, "alice", newPassword); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// TestChangePasswordRefused: a wrong current password or an unacceptable new one changes
// nothing, and the reply never quotes either password.
func TestChangePasswordRefused(t *testing.T) {
	tests := []struct {
		name             string
		current, newPass string
		code             codes.Code
		field            string // of the BadRequest detail, for InvalidArgument
	}{
		{"wrong current password", "not the password", newPassword, codes.Unauthenticated, ""},
		{"current password over 1024 bytes", strings.Repeat("p", 1025), newPassword, codes.Unauthenticated, ""},
		{"new password too short", testPassword, "hunter2", codes.InvalidArgument, "new_password"},
		{"new password over 256 bytes", testPassword, strings.Repeat("long", 65),
			codes.InvalidArgument, "new_password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createUser("alice")
			tok, other := h.login("alice").GetAccessToken(), h.login("alice").GetAccessToken()
			st := wantCode(t, h.changePassword(tok, tc.current, tc.newPass), tc.code)
			if tc.field != "" {
				if f := badRequestFields(st.Details()); len(f) != 1 || f[0] != tc.field {
					t.Fatalf("BadRequest fields %v, want [%s]", f, tc.field)
				}
			}
			text := st.String()
			if strings.Contains(text, tc.newPass) || strings.Contains(text, tc.current) {
				t.Fatalf("reply quotes a password: %s", text)
			}
			if r := h.reason(other); r != stepupv1.ValidationReason_VALIDATION_REASON_OK {
				t.Fatalf("a refused change ended another session: %v", r)
			}
			h.login("alice") // the old password still works
		})
	}
}

// TestChangePasswordGuessesThrottled: ChangePassword checks the current password, so it
// must count wrong guesses like Login does; otherwise whoever holds an access token of a
// user without a second factor can guess the password without limit.
func TestChangePasswordGuessesThrottled(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginThrottle = throttle.Config{Free: 3, Base: time.Minute} })
	h.createUser("alice")
	tok := h.login("alice").GetAccessToken()
	var err error
	for i := range 10 {
		err = h.changePassword(tok, fmt.Sprintf("guess number %d", i), newPassword)
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
	}
	wantCode(t, err, codes.ResourceExhausted)
}
