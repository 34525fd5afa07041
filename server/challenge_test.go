package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

const totpFactor = stepupv1.Factor_FACTOR_TOTP

// enrolledUser creates alice with TOTP and returns the harness's aal1 token and secret.
func enrolledUser(h *harness) (tok, secret string) {
	h.t.Helper()
	h.createUser("alice")
	tok = h.login("alice").GetAccessToken()
	return tok, h.enrollTOTP(tok)
}

// tryChallenge asks for a TOTP challenge and returns only the error.
func (h *harness) tryChallenge(tok string) error {
	_, err := h.auth.ChallengeSecondFactor(h.bearer(tok), &stepupv1.ChallengeSecondFactorRequest{Factor: totpFactor})
	return err
}

// TestChallengeTTL: a challenge expires exactly ChallengeTTL after it was created, and an
// expired one is answered like an unknown one.
func TestChallengeTTL(t *testing.T) {
	const ttl = 5 * time.Minute
	tests := []struct {
		age  time.Duration
		want codes.Code
	}{
		{ttl - time.Second, codes.OK},
		{ttl, codes.NotFound},
		{ttl + time.Second, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.age.String(), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.ChallengeTTL = ttl })
			tok, secret := enrolledUser(h)
			ch := h.challenge(tok, totpFactor)
			h.clock.Advance(tc.age)
			_, err := h.verify(tok, ch, h.code(secret))
			wantCode(t, err, tc.want)
			if tc.want == codes.NotFound && string(statusBytes(t, err)) != string(statusBytes(t, errNoChallenge)) {
				t.Fatalf("expired challenge answered %v", err)
			}
		})
	}
}

// TestChallengeBurns: ChallengeMaxAttempts wrong codes burn a challenge, so even the
// right code is then refused; one fewer does not.
func TestChallengeBurns(t *testing.T) {
	const maxAttempts = 3
	tests := []struct {
		wrong int
		want  codes.Code
	}{
		{maxAttempts - 1, codes.OK},
		{maxAttempts, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d wrong", tc.wrong), func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.ChallengeMaxAttempts = maxAttempts
				c.SecondFactor = LockoutConfig{Free: 10, Limit: 20} // no back-off in the way
			})
			tok, secret := enrolledUser(h)
			ch := h.challenge(tok, totpFactor)
			for range tc.wrong {
				_, err := h.verify(tok, ch, wrongCode(h.code(secret)))
				wantCode(t, err, codes.Unauthenticated)
			}
			_, err := h.verify(tok, ch, h.code(secret))
			wantCode(t, err, tc.want)
		})
	}
}

// TestChallengeIDsLookAlike: a challenge id that is unknown, belongs to another session or
// user, was used, or is malformed gets one answer; none of these attempts consumes the
// challenge, the TOTP step or counts as a failure.
func TestChallengeIDsLookAlike(t *testing.T) {
	h := newHarness(t)
	tok, secret := enrolledUser(h)
	otherSession := h.login("alice").GetAccessToken()
	h.createUser("mallory")
	mallory := h.login("mallory").GetAccessToken()
	h.enrollTOTP(mallory)

	used := h.challenge(tok, totpFactor)
	if _, err := h.verify(tok, used, h.code(secret)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Second)
	ch := h.challenge(tok, totpFactor)
	code := h.code(secret)

	tests := []struct{ name, tok, id string }{
		{"unknown", tok, "ch_doesnotexist"},
		{"same user, other session", otherSession, ch},
		{"other user", mallory, ch},
		{"already used", tok, used},
		{"empty", tok, ""},
		{"65 bytes", tok, strings.Repeat("c", 65)},
	}
	want := statusBytes(t, errNoChallenge)
	for _, tc := range tests {
		_, err := h.verify(tc.tok, tc.id, code)
		wantCode(t, err, codes.NotFound)
		if string(statusBytes(t, err)) != string(want) {
			t.Errorf("%s: %v, want exactly %v", tc.name, err, errNoChallenge)
		}
	}
	if n := h.getUser(h.claimsOf(tok).Subject).GetSecondFactorFailures(); n != 0 {
		t.Fatalf("failures %d after foreign attempts", n)
	}
	if _, err := h.verify(tok, ch, code); err != nil {
		t.Fatalf("owner with the same code after the foreign attempts: %v", err)
	}
}

// TestSecondFactorFailuresAcrossSessions: failures are counted per user, whichever
// challenge and session they come from, and the back-off refuses both new challenges
// and the right code on a live one until it is over.
func TestSecondFactorFailuresAcrossSessions(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.SecondFactor = LockoutConfig{Free: 2, Base: time.Minute, Max: time.Hour, Limit: 10}
	})
	a, secret := enrolledUser(h)
	id := h.claimsOf(a).Subject
	b := h.login("alice").GetAccessToken()
	live := h.challenge(a, totpFactor)

	for i, tok := range []string{a, b} {
		_, err := h.verify(tok, h.challenge(tok, totpFactor), wrongCode(h.code(secret)))
		wantCode(t, err, codes.Unauthenticated)
		if n := h.getUser(id).GetSecondFactorFailures(); n != int32(i+1) {
			t.Fatalf("failures %d after %d wrong codes", n, i+1)
		}
	}

	st := wantCode(t, h.tryChallenge(b), codes.ResourceExhausted)
	if d, ok := retryDelay(st); !ok || d != time.Minute {
		t.Fatalf("RetryInfo %v, want 1m", d)
	}
	_, err := h.verify(a, live, h.code(secret))
	wantCode(t, err, codes.ResourceExhausted)

	h.clock.Advance(time.Minute)
	h.stepUp(b, secret)
	if n := h.getUser(id).GetSecondFactorFailures(); n != 0 {
		t.Fatalf("failures %d after a success", n)
	}
}

// TestSecondFactorHardLimit: at Limit consecutive failures the second factor stays
// locked, however long one waits, until an operator runs EnableUser. While locked no
// code is evaluated: the right one neither unlocks nor spends its TOTP step.
func TestSecondFactorHardLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.SecondFactor = LockoutConfig{Free: 2, Base: time.Minute, Max: 2 * time.Minute, Limit: 4}
		c.ChallengeMaxAttempts = 10
		c.ChallengeTTL = 3 * time.Hour
		c.AccessTokenTTL = 3 * time.Hour
	})
	tok, secret := enrolledUser(h)
	id := h.claimsOf(tok).Subject
	ch := h.challenge(tok, totpFactor)

	// Failures 1 and 2, a one-minute back-off, failure 3, a two-minute one, failure 4.
	for _, wait := range []time.Duration{0, 0, time.Minute, 2 * time.Minute} {
		h.clock.Advance(wait)
		_, err := h.verify(tok, ch, wrongCode(h.code(secret)))
		wantCode(t, err, codes.Unauthenticated)
	}

	h.clock.Advance(2 * time.Hour)
	st := wantCode(t, h.tryChallenge(tok), codes.ResourceExhausted)
	if d, ok := retryDelay(st); ok {
		t.Fatalf("hard lock carries RetryInfo %v: waiting does not help", d)
	}
	code := h.code(secret)
	for _, c := range []string{code, wrongCode(code)} {
		_, err := h.verify(tok, ch, c)
		wantCode(t, err, codes.ResourceExhausted)
	}
	if n := h.getUser(id).GetSecondFactorFailures(); n != 4 {
		t.Fatalf("failures %d while locked, want 4", n)
	}

	if _, err := h.admin.EnableUser(h.ctx(), &stepupv1.EnableUserRequest{User: userRef(id)}); err != nil {
		t.Fatal(err)
	}
	if n := h.getUser(id).GetSecondFactorFailures(); n != 0 {
		t.Fatalf("failures %d after EnableUser", n)
	}
	if _, err := h.verify(tok, ch, code); err != nil {
		t.Fatalf("the code refused while locked, after EnableUser: %v", err)
	}
}
