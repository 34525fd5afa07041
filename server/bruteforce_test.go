package server

import (
	"sync"
	"testing"
	"time"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/otp"
)

// The tests here back the brute-force bound in docs/security.md: with the default
// limits, an attacker who knows the password gets at most SecondFactor.Limit (30)
// guesses at the second factor between two successful step-ups by the user, however
// the guesses are spread over sessions and challenges, and no faster than the
// back-off allows.

// attacker knows alice's password and guesses her second factor as fast as the
// server allows, from as many sessions and challenges as it likes.
type attacker struct {
	h      *harness
	secret string // only to make sure every guess is wrong
	tok    string
	ch     string
	tries  int // wrong codes sent to ch

	guesses  []time.Time // when each guess was evaluated (answered UNAUTHENTICATED)
	sessions map[string]bool
	chs      int
}

func newAttacker(h *harness, secret string) *attacker {
	return &attacker{h: h, secret: secret, sessions: map[string]bool{}}
}

// session returns a live aal1 token, logging in again when the last one expired:
// every login is a new session.
func (a *attacker) session() string {
	if a.tok == "" || a.h.reason(a.tok) != stepupv1.ValidationReason_VALIDATION_REASON_OK {
		a.tok = a.h.login("alice").GetAccessToken()
		a.sessions[a.h.claimsOf(a.tok).SessionID] = true
		a.ch = ""
	}
	return a.tok
}

// step makes one move: open a challenge if needed, then guess. It returns how long the
// server asked to wait (RetryInfo), and locked when it refused with no end in sight.
func (a *attacker) step() (wait time.Duration, locked bool) {
	tok := a.session()
	if a.ch == "" {
		resp, err := a.h.auth.ChallengeSecondFactor(a.h.bearer(tok),
			&stepupv1.ChallengeSecondFactorRequest{Factor: totpFactor})
		if err != nil {
			return a.refusal(err)
		}
		a.ch, a.tries = resp.GetChallengeId(), 0
		a.chs++
	}
	_, err := a.h.verify(tok, a.ch, a.wrongGuess())
	switch status.Code(err) {
	case codes.Unauthenticated:
		a.guesses = append(a.guesses, a.h.clock.Now())
		if a.tries++; a.tries == a.h.srv.cfg.ChallengeMaxAttempts {
			a.ch = "" // burned
		}
		return 0, false
	case codes.NotFound: // expired while waiting
		a.ch = ""
		return 0, false
	}
	return a.refusal(err)
}

func (a *attacker) refusal(err error) (time.Duration, bool) {
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		a.h.t.Fatalf("attacker got %v", err)
	}
	d, ok := retryDelay(st)
	return d, !ok
}

// wrongGuess is a code that none of the steps in the ±1 window accepts.
func (a *attacker) wrongGuess() string {
	now := a.h.clock.Now()
	window := map[string]bool{}
	for _, d := range []time.Duration{-otp.Period, 0, otp.Period} {
		window[codeAt(a.h, a.secret, now.Add(d))] = true
	}
	for c := 0; ; c++ {
		guess := []byte("000000")
		for i, n := 5, c; i >= 0; i, n = i-1, n/10 {
			guess[i] = byte('0' + n%10)
		}
		if !window[string(guess)] {
			return string(guess)
		}
	}
}

// codeAt is the TOTP code of secret at t, from pquerna/otp.
func codeAt(h *harness, secret string, t time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{
		Period: 30, Digits: potp.DigitsSix, Algorithm: potp.AlgorithmSHA1})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestBruteForceBoundAcrossSessions: an attacker with the password, guessing as fast as
// allowed for a simulated year from ever new sessions and challenges, has exactly
// Limit codes evaluated, no sooner than the back-off schedule permits; after that the
// factor stays locked, the right code included, until an operator runs EnableUser.
func TestBruteForceBoundAcrossSessions(t *testing.T) {
	h := newHarness(t)
	_, secret := enrolledUser(h)
	lc := h.srv.cfg.SecondFactor
	if lc != (LockoutConfig{Free: 5, Base: time.Minute, Max: time.Hour, Limit: 30, WindowLimit: 20, Window: 24 * time.Hour}) ||
		h.srv.cfg.ChallengeMaxAttempts != 5 {
		t.Fatalf("defaults changed (%+v, %d attempts): update docs/security.md and this test",
			lc, h.srv.cfg.ChallengeMaxAttempts)
	}

	a := newAttacker(h, secret)
	start := h.clock.Now()
	refusedLocked := 0
	for h.clock.Now().Before(start.Add(365 * 24 * time.Hour)) {
		wait, locked := a.step()
		switch {
		case locked:
			refusedLocked++
			h.clock.Advance(24 * time.Hour)
		case wait > 0:
			h.clock.Advance(wait)
		}
	}

	if len(a.guesses) != lc.Limit {
		t.Fatalf("%d guesses evaluated in a year, want exactly Limit = %d", len(a.guesses), lc.Limit)
	}
	var minimum time.Duration
	for n := lc.Free; n < lc.Limit; n++ {
		minimum += lc.lockFor(n)
	}
	if took := a.guesses[len(a.guesses)-1].Sub(a.guesses[0]); took < minimum {
		t.Fatalf("%d guesses took %v, the back-off schedule demands at least %v", lc.Limit, took, minimum)
	}
	if len(a.sessions) < 10 || a.chs < lc.Limit/h.srv.cfg.ChallengeMaxAttempts {
		t.Fatalf("the attack used %d sessions and %d challenges; the test means to spread it", len(a.sessions), a.chs)
	}
	t.Logf("%d guesses over %d sessions and %d challenges; the %dth came %v after the first; "+
		"then %d daily attempts refused", len(a.guesses), len(a.sessions), a.chs, lc.Limit,
		a.guesses[len(a.guesses)-1].Sub(a.guesses[0]), refusedLocked)

	// Locked for good: even the right code is not evaluated.
	tok := h.login("alice").GetAccessToken()
	_, err := h.auth.ChallengeSecondFactor(h.bearer(tok), &stepupv1.ChallengeSecondFactorRequest{Factor: totpFactor})
	wantCode(t, err, codes.ResourceExhausted)
}

// TestBruteForceBetweenDailyStepUps: when alice herself steps up once a day, each
// success resets the consecutive count, but not the daily window: the attacker gets
// WindowLimit (20) guesses a day and is then held until the window ends. This is the
// 20-a-day figure of the bound, and it holds however often alice steps up.
func TestBruteForceBetweenDailyStepUps(t *testing.T) {
	h := newHarness(t)
	_, secret := enrolledUser(h)
	lc := h.srv.cfg.SecondFactor
	a := newAttacker(h, secret)

	for day := range 3 {
		dayStart := h.clock.Now()
		before := len(a.guesses)
		for len(a.guesses)-before < lc.Limit-1 && h.clock.Now().Before(dayStart.Add(24*time.Hour)) {
			wait, locked := a.step()
			if locked {
				t.Fatalf("day %d: locked after %d guesses", day, len(a.guesses)-before)
			}
			h.clock.Advance(wait)
		}
		if n := len(a.guesses) - before; n != lc.WindowLimit {
			t.Fatalf("day %d: %d guesses, want WindowLimit = %d", day, n, lc.WindowLimit)
		}
		t.Logf("day %d: %d guesses in %v", day, lc.WindowLimit, a.guesses[len(a.guesses)-1].Sub(dayStart))

		// Alice steps up at the start of the next day, which resets the count.
		h.clock.Advance(dayStart.Add(24 * time.Hour).Sub(h.clock.Now()))
		own := h.login("alice").GetAccessToken()
		h.stepUp(own, secret)
		h.clock.Advance(otp.Period)
	}
}

// TestWrongCodesRace: wrong codes sent concurrently are counted one by one in the
// write transaction, so concurrency buys no extra guesses: on one challenge exactly
// ChallengeMaxAttempts are evaluated, and spread over many challenges and sessions
// exactly Free are evaluated before the back-off refuses the rest. Run with -race
// -count=N.
func TestWrongCodesRace(t *testing.T) {
	tests := []struct {
		name       string
		sessions   int
		challenges int
		maxTries   int
		want       int // codes evaluated
	}{
		{"one challenge", 1, 1, 5, 5},
		{"ten challenges over five sessions", 5, 10, 5, 5},
		{"one challenge, three attempts", 1, 1, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.ChallengeMaxAttempts = tc.maxTries })
			_, secret := enrolledUser(h)
			var targets [][2]string
			for i := range tc.challenges {
				tok := ""
				if i < tc.sessions {
					tok = h.login("alice").GetAccessToken()
				} else {
					tok = targets[i%tc.sessions][0]
				}
				targets = append(targets, [2]string{tok, h.challenge(tok, totpFactor)})
			}
			guess := newAttacker(h, secret).wrongGuess()

			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 50)
			for i := range errs {
				target := targets[i%len(targets)]
				wg.Go(func() {
					<-start
					_, errs[i] = h.verify(target[0], target[1], guess)
				})
			}
			close(start)
			wg.Wait()

			evaluated := 0
			for _, err := range errs {
				switch status.Code(err) {
				case codes.Unauthenticated:
					evaluated++
				case codes.NotFound, codes.ResourceExhausted:
				default:
					t.Fatalf("unexpected answer %v", err)
				}
			}
			id := h.claimsOf(targets[0][0]).Subject
			if n := h.getUser(id).GetSecondFactorFailures(); evaluated != tc.want || n != int32(tc.want) {
				t.Fatalf("%d codes evaluated, %d failures stored; want %d", evaluated, n, tc.want)
			}
		})
	}
}
