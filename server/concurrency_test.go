package server

import (
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// TestSingleUseUnderConcurrency: however many requests race with one code, exactly one
// gets an aal2 token. The check and the consumption of a challenge, a TOTP step and a
// recovery code happen in one write transaction. Run with -race -count=N.
func TestSingleUseUnderConcurrency(t *testing.T) {
	tests := []struct {
		name       string
		factor     stepupv1.Factor
		sessions   int
		challenges int // spread round-robin over the sessions
		requests   int // spread round-robin over the challenges
	}{
		{"one TOTP challenge", stepupv1.Factor_FACTOR_TOTP, 1, 1, 50},
		{"one recovery code, 50 challenges", stepupv1.Factor_FACTOR_RECOVERY_CODE, 1, 50, 50},
		{"one TOTP step, two sessions", stepupv1.Factor_FACTOR_TOTP, 2, 2, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createUser("alice")
			sessions := make([]string, tc.sessions)
			for i := range sessions {
				sessions[i] = h.login("alice").GetAccessToken()
			}
			code := singleUseCode(h, sessions[0], tc.factor)

			type attempt struct{ tok, challenge string }
			challenges := make([]attempt, tc.challenges)
			for i := range challenges {
				tok := sessions[i%len(sessions)]
				challenges[i] = attempt{tok, h.challenge(tok, tc.factor)}
			}

			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  = make([]error, tc.requests)
				ctx   = h.ctx()
			)
			for i := range tc.requests {
				a := challenges[i%len(challenges)]
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = h.auth.VerifySecondFactor(bearerCtx(ctx, a.tok),
						&stepupv1.VerifySecondFactorRequest{ChallengeId: a.challenge, Code: code})
				}()
			}
			close(start)
			wg.Wait()

			wins := 0
			for i, err := range errs {
				switch status.Code(err) {
				case codes.OK:
					wins++
				case codes.NotFound, codes.Unauthenticated, codes.ResourceExhausted:
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d requests succeeded with one code, want exactly 1", wins)
			}
		})
	}
}

// singleUseCode enrolls the factor for the holder of tok and returns a code for it.
func singleUseCode(h *harness, tok string, f stepupv1.Factor) string {
	h.t.Helper()
	if f == stepupv1.Factor_FACTOR_TOTP {
		return h.code(h.enrollTOTP(tok))
	}
	rc, err := h.account.CreateRecoveryCodes(h.bearer(tok), &stepupv1.CreateRecoveryCodesRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rc.GetCodes()[0]
}
