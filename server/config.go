package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/stepup/stepup/server/internal/contact"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/server/internal/throttle"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// Config holds the server's policy. The zero value of every field means its default,
// documented on the field with its source.
type Config struct {
	// Issuer is the iss claim and the issuer name shown in authenticator apps.
	// Default "stepup".
	Issuer string
	// Audience is the aud claim of the tokens stepup issues and accepts. Default "stepup".
	Audience string
	// ClientID is the client_id claim (RFC 9068 section 2.2). Default "stepup".
	ClientID string
	// SigningAlg is the algorithm of newly created signing keys: "EdDSA" (default) or
	// "ES256".
	SigningAlg string

	// AccessTokenTTL is the lifetime of an aal1 token. Default 15 minutes; Keycloak uses 5.
	AccessTokenTTL time.Duration
	// StepUpTokenTTL is the lifetime of an aal2 token; it must be shorter than
	// AccessTokenTTL. Default 5 minutes.
	StepUpTokenTTL time.Duration
	// SessionTTL bounds a login session and so its refresh tokens. Default 12 hours, the
	// AAL2 reauthentication limit of NIST SP 800-63B section 4.2.3.
	SessionTTL time.Duration
	// StepUpMaxAge is how recent an aal2 authentication must be for sensitive account
	// changes. Default 5 minutes (RFC 9470-style max_age; Authelia uses 5 for one-time
	// codes).
	StepUpMaxAge time.Duration
	// KeyRotationPeriod is how long a key signs before the next one takes over. Zero means
	// 30 days; a negative value turns scheduled rotation off (stepupctl keys rotate still
	// works).
	KeyRotationPeriod time.Duration
	// JWKSCacheTTL is the max-age served with the JWK Set. A new key is published at least
	// this long before it signs anything, so a relying party's cached set already holds it.
	// Default 5 minutes.
	JWKSCacheTTL time.Duration
	// KeyCheckInterval is how often the key schedule is applied. Default 10 seconds.
	KeyCheckInterval time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30 seconds, at most 2
	// minutes (RFC 7519 section 4.1.4 allows "a few minutes").
	Leeway time.Duration

	// ChallengeTTL is how long a second-factor challenge lives. Default 5 minutes
	// (NIST SP 800-63B section 5.1.3.2 caps out-of-band codes at 10).
	ChallengeTTL time.Duration
	// ChallengeMaxAttempts burns a challenge after this many wrong codes. Default 5.
	ChallengeMaxAttempts int
	// SecondFactor governs failures counted per user across challenges and sessions.
	SecondFactor LockoutConfig

	// EmailSender and SMSSender deliver codes sent by email and by SMS. A nil sender
	// turns its channel off: AddEmail or AddPhone, and challenges for that factor, then
	// fail with FAILED_PRECONDITION.
	EmailSender Sender
	SMSSender   Sender
	// CodeTTL is how long a code sent by SMS or email works. Default 5 minutes, at most
	// 10 (NIST SP 800-63B section 5.1.3.2; Authelia uses 5).
	CodeTTL time.Duration
	// CodeDigits is the length of a code sent by SMS or email. Default 6, the NIST
	// SP 800-63B minimum (20 bits); at most 10.
	CodeDigits int
	// DeliveryTimeout bounds one send to an email or SMS provider. Default 10 seconds.
	// No store transaction is open while a send runs, so a slow provider delays only
	// the call that sends.
	DeliveryTimeout time.Duration
	// SendLimits bounds how often codes are sent, so stepup cannot be used to flood a
	// phone or a mailbox, or to run up an SMS bill.
	SendLimits SendLimits
	// EmailIsAAL2 lets a step-up by an email code (acr "email-otp") satisfy an aal2
	// requirement. Default false: NIST SP 800-63B section 5.1.3.1 does not accept email
	// as an out-of-band authenticator. ValidateToken and the account-change gates both
	// apply it.
	EmailIsAAL2 bool

	// LoginThrottle governs failed logins per username and per client address.
	LoginThrottle throttle.Config
	// Password configures argon2id and the bound on concurrent hashing.
	Password password.Config

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of ids, secrets and codes. Default crypto/rand.Reader.
	Rand io.Reader
	// Logger receives structured logs; never secrets. Default slog.Default().
	Logger *slog.Logger
}

// LockoutConfig bounds consecutive failed second-factor attempts for one user.
type LockoutConfig struct {
	// Free is the number of consecutive failures allowed before back-off. Default 5
	// (PyPI allows 5 per 5 minutes; Authelia 3 in 2 minutes).
	Free int
	// Base is the first back-off, doubled for each further failure. Default 1 minute.
	Base time.Duration
	// Max caps the back-off. Default 1 hour.
	Max time.Duration
	// Limit is the number of consecutive failures after which second-factor attempts are
	// refused until an operator runs EnableUser. Default 30 (Keycloak's default), kept
	// below the cap of 100 in NIST SP 800-63B section 5.2.2.
	Limit int
	// WindowLimit caps failures per Window whatever happens in between. The consecutive
	// count above resets on every success, so an attacker who knows the password gets a
	// fresh allowance each time the user steps up; this cap does not reset, which bounds
	// guesses per year however often the user steps up (docs/security.md). Default 20
	// (ASVS V2.2.1 allows at most 100 an hour; Auth0 locks at 10 an hour).
	WindowLimit int
	// Window is the period of WindowLimit. Default 24 hours.
	Window time.Duration
}

// SendLimits bounds code deliveries. Every window of a list must admit a send for it to
// happen; sends that were tried and failed count too. The history is kept in the
// store, so a restart does not reset it.
type SendLimits struct {
	// Resend is the least time between two codes to one address while the earlier
	// code is unanswered. Default 1 minute. A code answered correctly ends the wait,
	// so a user who confirms an address can step up with it at once, while no one can
	// make stepup send a number more than one unanswered code a minute.
	Resend time.Duration
	// PerUser counts sends to any address of one user, for any purpose. Default 3 a
	// minute and 10 an hour: enough to add an email and a phone in one sitting, too
	// few for one account to spray numbers.
	PerUser []contact.Window
	// PerDestination counts sends to one address, from any user, answered or not.
	// Default 10 an hour, so no number or mailbox gets more than that from stepup,
	// whoever asks.
	//
	// TODO: there is no service-wide budget: many accounts, each with its own numbers,
	// can still send 10 an hour each, and the SMS bill grows with the number of accounts.
	PerDestination []contact.Window
}

func (c *Config) setDefaults() {
	setDefault(&c.Issuer, "stepup")
	setDefault(&c.Audience, "stepup")
	setDefault(&c.ClientID, "stepup")
	setDefault(&c.SigningAlg, token.AlgEdDSA)
	setDefault(&c.AccessTokenTTL, 15*time.Minute)
	setDefault(&c.StepUpTokenTTL, 5*time.Minute)
	setDefault(&c.SessionTTL, 12*time.Hour)
	setDefault(&c.StepUpMaxAge, 5*time.Minute)
	setDefault(&c.Leeway, 30*time.Second)
	setDefault(&c.KeyRotationPeriod, 30*24*time.Hour)
	setDefault(&c.JWKSCacheTTL, 5*time.Minute)
	setDefault(&c.KeyCheckInterval, 10*time.Second)
	setDefault(&c.ChallengeTTL, 5*time.Minute)
	setDefault(&c.ChallengeMaxAttempts, 5)
	setDefault(&c.SecondFactor.Free, 5)
	setDefault(&c.SecondFactor.Base, time.Minute)
	setDefault(&c.SecondFactor.Max, time.Hour)
	setDefault(&c.SecondFactor.Limit, 30)
	setDefault(&c.SecondFactor.WindowLimit, 20)
	setDefault(&c.SecondFactor.Window, 24*time.Hour)
	setDefault(&c.CodeTTL, 5*time.Minute)
	setDefault(&c.CodeDigits, contact.MinDigits)
	setDefault(&c.DeliveryTimeout, 10*time.Second)
	if c.SendLimits.PerUser == nil {
		c.SendLimits.PerUser = []contact.Window{{Period: time.Minute, Max: 3}, {Period: time.Hour, Max: 10}}
	}
	if c.SendLimits.PerDestination == nil {
		c.SendLimits.PerDestination = []contact.Window{{Period: time.Hour, Max: 10}}
	}
	setDefault(&c.SendLimits.Resend, time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LoginThrottle.Now == nil {
		c.LoginThrottle.Now = c.Now
	}
	if c.Password.Rand == nil {
		c.Password.Rand = c.Rand
	}
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// validate reports every bad setting at once.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.SigningAlg != token.AlgEdDSA && c.SigningAlg != token.AlgES256 {
		bad("signing algorithm %q: want %s or %s", c.SigningAlg, token.AlgEdDSA, token.AlgES256)
	}
	if c.StepUpTokenTTL >= c.AccessTokenTTL {
		bad("step-up token TTL %v must be shorter than the access token TTL %v",
			c.StepUpTokenTTL, c.AccessTokenTTL)
	}
	if c.AccessTokenTTL > c.SessionTTL {
		bad("access token TTL %v exceeds the session TTL %v", c.AccessTokenTTL, c.SessionTTL)
	}
	if c.Leeway < 0 || c.Leeway > 2*time.Minute {
		bad("leeway %v: want between 0 and 2m", c.Leeway)
	}
	if c.ChallengeMaxAttempts < 1 || c.ChallengeMaxAttempts > 10 {
		bad("challenge max attempts %d: want 1 to 10", c.ChallengeMaxAttempts)
	}
	if c.SecondFactor.Limit > 100 || c.SecondFactor.Limit <= c.SecondFactor.Free {
		bad("second-factor limit %d: want above free failures (%d) and at most 100 (NIST SP 800-63B)",
			c.SecondFactor.Limit, c.SecondFactor.Free)
	}
	if c.SecondFactor.WindowLimit < 1 || c.SecondFactor.Window <= 0 {
		bad("second-factor window: %d failures per %v", c.SecondFactor.WindowLimit, c.SecondFactor.Window)
	}
	if c.SecondFactor.Base <= 0 || c.SecondFactor.Max < c.SecondFactor.Base {
		bad("second-factor back-off: base %v, max %v", c.SecondFactor.Base, c.SecondFactor.Max)
	}
	errs = append(errs, c.validateDelivery()...)
	return errors.Join(errs...)
}

// validateDelivery checks the settings of codes sent by SMS and email.
func (c *Config) validateDelivery() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.CodeTTL <= 0 || c.CodeTTL > 10*time.Minute {
		bad("code TTL %v: want above 0 and at most 10m (NIST SP 800-63B)", c.CodeTTL)
	}
	if c.CodeDigits < contact.MinDigits || c.CodeDigits > contact.MaxDigits {
		bad("code digits %d: want %d to %d", c.CodeDigits, contact.MinDigits, contact.MaxDigits)
	}
	if c.DeliveryTimeout <= 0 || c.DeliveryTimeout > time.Minute {
		bad("delivery timeout %v: want above 0 and at most 1m", c.DeliveryTimeout)
	}
	if c.SendLimits.Resend < 0 || c.SendLimits.Resend > c.CodeTTL {
		bad("resend interval %v: want between 0 and the code TTL %v", c.SendLimits.Resend, c.CodeTTL)
	}
	limits := []struct {
		name    string
		windows []contact.Window
	}{{"per-user", c.SendLimits.PerUser}, {"per-destination", c.SendLimits.PerDestination}}
	for _, l := range limits {
		if len(l.windows) == 0 {
			bad("%s send limits: want at least one window", l.name)
		}
		for _, w := range l.windows {
			if w.Period <= 0 || w.Max < 1 {
				bad("%s send limit %d per %v: want at least 1 per positive period", l.name, w.Max, w.Period)
			}
		}
	}
	return errs
}

// lockFor returns how long a user with n consecutive failures must wait before the next
// attempt. Reaching Limit locks for good; lockedOut checks that separately.
func (l LockoutConfig) lockFor(n int) time.Duration {
	if n < l.Free {
		return 0
	}
	wait := l.Base
	for i := l.Free; i < n && wait < l.Max; i++ {
		wait *= 2
	}
	return min(wait, l.Max)
}

// countInWindow adds a failure to u's fixed window, starting a new window when the last
// one is over, and locks u until the window ends once it holds WindowLimit failures.
func (l LockoutConfig) countInWindow(u *store.User, now time.Time) {
	if !now.Before(u.SecondFactorWindowStart.Add(l.Window)) {
		u.SecondFactorWindowStart, u.SecondFactorWindowFailures = now, 0
	}
	u.SecondFactorWindowFailures++
	if end := u.SecondFactorWindowStart.Add(l.Window); u.SecondFactorWindowFailures >= l.WindowLimit &&
		end.After(u.SecondFactorLockedUntil) {
		u.SecondFactorLockedUntil = end
	}
}
