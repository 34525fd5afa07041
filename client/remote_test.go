package client

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client/internal/fakestepup"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

func remote() harnessOpt { return withConfig(func(c *Config) { c.Mode = Remote }) }

func TestRemoteMapsValidateToken(t *testing.T) {
	h := newHarness(t, remote())
	good := fakestepup.ClaimsProto(h.fake.NewClaims("u_ann", token.ACR2))
	wrongAud := fakestepup.ClaimsProto(h.fake.NewClaims("u_ann", token.ACR2))
	wrongAud.Audience = []string{fakestepup.StepupAud}
	answer := func(valid bool, r stepupv1.ValidationReason, c *stepupv1.Claims) fakestepup.ValidateFunc {
		return func(*stepupv1.ValidateTokenRequest) (*stepupv1.ValidateTokenResponse, error) {
			return &stepupv1.ValidateTokenResponse{Valid: valid, Reason: r, Claims: c}, nil
		}
	}
	const (
		ok       = stepupv1.ValidationReason_VALIDATION_REASON_OK
		acr      = stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR
		tooOld   = stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD
		expired  = stepupv1.ValidationReason_VALIDATION_REASON_EXPIRED
		revoked  = stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
		disabled = stepupv1.ValidationReason_VALIDATION_REASON_USER_DISABLED
	)
	cases := []struct {
		name   string
		answer fakestepup.ValidateFunc
		code   codes.Code
		stepUp bool
	}{
		{"valid", answer(true, ok, good), codes.OK, false},
		{"insufficient acr", answer(false, acr, good), codes.Unauthenticated, true},
		{"auth too old", answer(false, tooOld, good), codes.Unauthenticated, true},
		{"expired", answer(false, expired, good), codes.Unauthenticated, false},
		{"revoked", answer(false, revoked, good), codes.Unauthenticated, false},
		{"user disabled", answer(false, disabled, nil), codes.Unauthenticated, false},
		{"valid but for another audience", answer(true, ok, wrongAud), codes.Unauthenticated, false},
		{"step-up for another audience", answer(false, acr, wrongAud), codes.Unauthenticated, false},
		{"valid without claims", answer(true, ok, nil), codes.Unauthenticated, false},
		{"valid=true with a bad reason", answer(true, expired, good), codes.Unauthenticated, false},
		{"valid=false with reason OK", answer(false, ok, good), codes.Unauthenticated, false},
		{"stepup error", func(*stepupv1.ValidateTokenRequest) (*stepupv1.ValidateTokenResponse, error) {
			return nil, status.Error(codes.Internal, "boom")
		}, codes.Unavailable, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.fake.SetValidate(tc.answer)
			body, err := h.call(fakestepup.DemoTransfer, "opaque.to.us")
			req := h.fake.LastValidateRequest()
			if req.GetToken() != "opaque.to.us" || req.GetRequiredAcr() != token.ACR2 ||
				req.GetMaxAge().AsDuration() != transferRule.MaxAge {
				t.Fatalf("ValidateToken request = %v, want the token and the rule", req)
			}
			if tc.stepUp {
				wantStepUp(t, err, transferRule)
				return
			}
			wantCode(t, err, tc.code)
			if tc.code == codes.OK && body != "u_ann aal2" {
				t.Fatalf("body = %q", body)
			}
		})
	}

	// An outage is logged at Warn once per interval, not once per call.
	h.fake.SetValidate(func(*stepupv1.ValidateTokenRequest) (*stepupv1.ValidateTokenResponse, error) {
		return nil, status.Error(codes.Unavailable, "down")
	})
	for range 3 {
		_, _ = h.call(fakestepup.DemoTransfer, "opaque.to.us")
	}
	if n := h.logs.count("ValidateToken failed"); n != 1 {
		t.Fatalf("%d warnings for one outage, want 1", n)
	}
	h.clock.Advance(remoteWarnEvery)
	_, _ = h.call(fakestepup.DemoTransfer, "opaque.to.us")
	if n := h.logs.count("ValidateToken failed"); n != 2 {
		t.Fatalf("%d warnings after the interval, want 2", n)
	}
}

// Remote mode against the fake's own checks, and without any call for public methods.
func TestRemoteEndToEnd(t *testing.T) {
	h := newHarness(t, remote())
	if _, err := h.call(fakestepup.DemoPublic, ""); err != nil {
		t.Fatal(err)
	}
	_, err := h.call(fakestepup.DemoRead, "not a token")
	wantCode(t, err, codes.Unauthenticated)
	if n := h.fake.Calls("ValidateToken"); n != 0 {
		t.Fatalf("a public method or junk called ValidateToken %d times", n)
	}
	aal1 := h.fake.Token("u_ann", token.ACR1)
	if body, err := h.call(fakestepup.DemoRead, aal1); err != nil || body != "u_ann aal1" {
		t.Fatalf("Read = %q, %v", body, err)
	}
	if req := h.fake.LastValidateRequest(); req.GetRequiredAcr() != "" || req.GetMaxAge() != nil {
		t.Fatalf("default rule sent as %v", req)
	}
	_, err = h.call(fakestepup.DemoTransfer, aal1)
	wantStepUp(t, err, transferRule)
	h.clock.Advance(time.Second)
	if n := h.fake.Calls("ValidateToken"); n != 2 {
		t.Fatalf("ValidateToken called %d times, want 2", n)
	}
	if h.fake.Calls("WatchJwks")+h.fake.Calls("WatchRevocations") != 0 {
		t.Fatal("remote mode opened watch streams")
	}
}
