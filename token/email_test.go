package token

import (
	"errors"
	"testing"
	"time"
)

// TestSatisfiesEmailOTP: an email step-up ranks between aal1 and aal2, and meets aal2
// only under the EmailIsAAL2 policy.
func TestSatisfiesEmailOTP(t *testing.T) {
	email := &Claims{ACR: ACREmailOTP, AuthTime: t0}
	cases := []struct {
		name string
		c    *Claims
		r    Requirement
		want error
	}{
		{"email meets aal1", email, Requirement{ACR: ACR1}, nil},
		{"email meets email-otp", email, Requirement{ACR: ACREmailOTP}, nil},
		{"email fails aal2 by default", email, Requirement{ACR: ACR2}, ErrInsufficientACR},
		{"email meets aal2 under the policy", email, Requirement{ACR: ACR2, EmailIsAAL2: true}, nil},
		{"policy keeps max_age", email, Requirement{ACR: ACR2, EmailIsAAL2: true, MaxAge: time.Minute},
			ErrAuthTooOld},
		{"aal2 meets email-otp", &Claims{ACR: ACR2}, Requirement{ACR: ACREmailOTP}, nil},
		{"aal1 fails email-otp", &Claims{ACR: ACR1}, Requirement{ACR: ACREmailOTP}, ErrInsufficientACR},
		{"policy does not lift aal1", &Claims{ACR: ACR1}, Requirement{ACR: ACR2, EmailIsAAL2: true},
			ErrInsufficientACR},
		{"policy does not lift an unknown acr", &Claims{ACR: "Email-OTP"},
			Requirement{ACR: ACR2, EmailIsAAL2: true}, ErrInsufficientACR},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Satisfies(tc.r, t0.Add(2*time.Minute))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Satisfies = %v, want %v", err, tc.want)
			}
		})
	}
}
