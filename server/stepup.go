package server

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/contact"
	"github.com/stepup/stepup/server/internal/otp"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// ChallengeSecondFactor starts a single-use challenge bound to the caller's user and
// session.
func (s *Server) ChallengeSecondFactor(ctx context.Context, req *stepupv1.ChallengeSecondFactorRequest) (*stepupv1.ChallengeSecondFactorResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	factor := req.GetFactor()
	now := s.cfg.Now()
	if !hasFactor(c.user, factor) {
		return nil, errNotEnrolled
	}
	if err := s.lockedOut(c.user, now); err != nil {
		return nil, err
	}
	if ch, ok := s.channelFor(factor); ok {
		return s.challengeByMessage(ctx, c, ch, now)
	}
	id, err := s.newID("ch_")
	if err != nil {
		return nil, s.toStatus(ctx, "challenge", err)
	}
	ch := &store.Challenge{
		ID:        id,
		UserID:    c.user.ID,
		SessionID: c.claims.SessionID,
		Factor:    int32(factor),
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.ChallengeTTL),
	}
	if err := s.store.Update(func(tx *store.Tx) error { return tx.PutChallenge(ch) }); err != nil {
		return nil, s.toStatus(ctx, "challenge", err)
	}
	s.log.InfoContext(ctx, "challenge started", logUserID, c.user.ID, logChallengeID, id,
		logFactor, factor.String())
	return &stepupv1.ChallengeSecondFactorResponse{
		ChallengeId: id,
		ExpiresAt:   timestamppb.New(ch.ExpiresAt),
	}, nil
}

// lockedOut refuses second-factor attempts while the user is in back-off, or for good
// once the consecutive-failure limit is reached. While locked, no code is evaluated.
func (s *Server) lockedOut(u *store.User, now time.Time) error {
	if u.SecondFactorFailures >= s.cfg.SecondFactor.Limit {
		return tooMany("too many failed attempts; an operator must unlock this account", 0)
	}
	if now.Before(u.SecondFactorLockedUntil) {
		return tooMany("too many failed attempts, try again later", u.SecondFactorLockedUntil.Sub(now))
	}
	return nil
}

// VerifySecondFactor checks a code against a challenge and, on success, returns an aal2
// token for the same session. Checking and consuming happen in one write transaction.
func (s *Server) VerifySecondFactor(ctx context.Context, req *stepupv1.VerifySecondFactorRequest) (*stepupv1.VerifySecondFactorResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetChallengeId() == "" || len(req.GetChallengeId()) > maxIDLen {
		return nil, errNoChallenge
	}
	if len(req.GetCode()) > maxCodeLen {
		return nil, invalidArg("code", "too long")
	}
	v := verification{s: s, caller: c, challengeID: req.GetChallengeId(), code: req.GetCode(), now: s.cfg.Now()}
	if err := s.store.Update(v.run); err != nil {
		return nil, s.toStatus(ctx, "verify", err)
	}
	if v.outcome != nil {
		s.log.WarnContext(ctx, "second factor rejected", logUserID, c.user.ID,
			logChallengeID, v.challengeID)
		return nil, v.outcome
	}
	access, exp, err := s.issue(grant{user: v.user, session: v.session, acr: stepUpACR(v.factor),
		amr: stepUpAMR(v.factor), authTime: v.now, ttl: s.cfg.StepUpTokenTTL})
	if err != nil {
		return nil, s.toStatus(ctx, "verify", err)
	}
	s.log.InfoContext(ctx, "stepped up", logUserID, c.user.ID, logSessionID, v.session.ID,
		logFactor, v.factor.String())
	return &stepupv1.VerifySecondFactorResponse{AccessToken: access, ExpiresAt: timestamppb.New(exp)}, nil
}

// stepUpACR is the acr a step-up with f reaches: "email-otp" for a code sent by email,
// which NIST SP 800-63B does not accept as a second factor, and aal2 for the rest.
func stepUpACR(f stepupv1.Factor) string {
	if f == stepupv1.Factor_FACTOR_EMAIL {
		return token.ACREmailOTP
	}
	return token.ACR2
}

// stepUpAMR lists the methods behind a stepped-up token: the password, the second
// factor, and "mfa" (RFC 8176 section 2). Each value appears once, so one channel
// never counts as two methods.
func stepUpAMR(f stepupv1.Factor) []string {
	second := token.AMROTP
	switch f {
	case stepupv1.Factor_FACTOR_RECOVERY_CODE:
		second = token.AMRRecoveryCode
	case stepupv1.Factor_FACTOR_SMS:
		second = token.AMRSMS
	case stepupv1.Factor_FACTOR_EMAIL:
		second = token.AMREmail
	}
	amr := []string{token.AMRPassword}
	for _, m := range []string{second, token.AMRMFA} {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	return amr
}

// verification is one VerifySecondFactor, ConfirmEmail or ConfirmPhone transaction.
// run may leave outcome set while returning nil: a wrong code must still commit the
// attempt counters.
type verification struct {
	s           *Server
	caller      *caller
	challengeID string
	code        string
	now         time.Time
	// purpose is what the challenge must be for: "" for a step-up, or
	// store.ChallengeConfirm for a new address. A code never serves the other purpose,
	// so confirming an address cannot step a session up.
	purpose string

	outcome error
	user    *store.User
	session *store.Session
	factor  stepupv1.Factor
	key     []byte // the code key, for codes sent by SMS or email
	// confirmed and replaced are set by a confirmation: the address now active, and
	// the verified one it replaced, if any.
	confirmed, replaced string
}

func (v *verification) run(tx *store.Tx) error {
	v.outcome = nil
	ch, err := tx.Challenge(v.challengeID)
	if err != nil {
		return v.answer(notFoundAs(err, errNoChallenge))
	}
	// Another user's or session's challenge gets the same answer as an unknown one.
	if ch.UserID != v.caller.user.ID || ch.SessionID != v.caller.claims.SessionID ||
		ch.Purpose != v.purpose || !ch.ConsumedAt.IsZero() || !v.now.Before(ch.ExpiresAt) {
		return v.answer(errNoChallenge)
	}
	if v.user, err = tx.User(ch.UserID); err != nil {
		return v.answer(notFoundAs(err, errNoChallenge))
	}
	if v.session, err = tx.Session(ch.SessionID); err != nil {
		return v.answer(notFoundAs(err, errNoChallenge))
	}
	if v.session.Ended(v.now) {
		return v.answer(errBadToken)
	}
	if err := v.s.lockedOut(v.user, v.now); err != nil {
		return v.answer(err)
	}
	v.factor = stepupv1.Factor(ch.Factor)
	if _, sent := v.s.channelFor(v.factor); sent {
		if v.key, err = tx.CodeKey(); err != nil {
			return err
		}
	}
	// A code sent to an address that has since been replaced or removed is dead.
	if !v.addressCurrent(ch) {
		return v.answer(errNoChallenge)
	}
	if v.matchCode(ch) {
		return v.succeed(tx, ch)
	}
	return v.fail(tx, ch)
}

// answer records a verdict that changes nothing.
func (v *verification) answer(err error) error {
	if _, isStatus := statusOf(err); isStatus {
		v.outcome = err
		return nil
	}
	return err
}

func (v *verification) succeed(tx *store.Tx, ch *store.Challenge) error {
	ch.ConsumedAt = v.now
	if err := answered(tx, ch); err != nil {
		return err
	}
	if v.purpose == store.ChallengeConfirm {
		// Proving a new address says nothing about the existing factors, so the
		// failure count stays.
		v.activate()
	} else {
		v.user.SecondFactorFailures = 0
		v.user.SecondFactorLockedUntil = time.Time{}
	}
	if err := tx.PutChallenge(ch); err != nil {
		return err
	}
	return tx.PutUser(v.user)
}

func (v *verification) fail(tx *store.Tx, ch *store.Challenge) error {
	ch.Attempts++
	if ch.Attempts >= v.s.cfg.ChallengeMaxAttempts {
		ch.ConsumedAt = v.now // burned
	}
	v.user.SecondFactorFailures++
	wait := v.s.cfg.SecondFactor.lockFor(v.user.SecondFactorFailures)
	if wait > 0 {
		v.user.SecondFactorLockedUntil = v.now.Add(wait)
	}
	v.s.cfg.SecondFactor.countInWindow(v.user, v.now)
	v.outcome = errBadCode
	if err := tx.PutChallenge(ch); err != nil {
		return err
	}
	return tx.PutUser(v.user)
}

// matchCode checks the code against the challenge's factor and, on a match, marks it
// used: the TOTP step is recorded on the user so it is never accepted again, the
// recovery code is spent, and a sent code is single use because its challenge is
// consumed with the match.
func (v *verification) matchCode(ch *store.Challenge) bool {
	u := v.user
	switch v.factor {
	case stepupv1.Factor_FACTOR_TOTP:
		if u.TOTP == nil {
			return false
		}
		step, ok := otp.Verify(u.TOTP.Secret, v.code, v.now, u.TOTPLastStep, 1)
		if ok {
			u.TOTPLastStep = step
		}
		return ok
	case stepupv1.Factor_FACTOR_RECOVERY_CODE:
		return spendRecoveryCode(u.RecoveryCodes, v.code, v.now)
	case stepupv1.Factor_FACTOR_SMS, stepupv1.Factor_FACTOR_EMAIL:
		return contact.MatchCode(v.key, ch.ID, v.code, ch.CodeHash)
	default:
		return false
	}
}

// spendRecoveryCode marks the matching unused code as used.
func spendRecoveryCode(set *store.RecoveryCodeSet, code string, now time.Time) bool {
	if set == nil {
		return false
	}
	normalized, ok := otp.NormalizeRecoveryCode(code)
	if !ok {
		return false
	}
	var candidates [][]byte
	var index []int
	for i, c := range set.Codes {
		if c.UsedAt.IsZero() {
			candidates = append(candidates, c.Hash)
			index = append(index, i)
		}
	}
	i, ok := otp.MatchRecoveryCode(otp.HashRecoveryCode(normalized, set.Salt), candidates)
	if !ok {
		return false
	}
	set.Codes[index[i]].UsedAt = now
	return true
}

// hasFactor reports whether u can prove f now.
func hasFactor(u *store.User, f stepupv1.Factor) bool {
	switch f {
	case stepupv1.Factor_FACTOR_TOTP:
		return u.TOTP != nil
	case stepupv1.Factor_FACTOR_RECOVERY_CODE:
		return u.RecoveryCodes.Remaining() > 0
	case stepupv1.Factor_FACTOR_SMS:
		return u.Phone != nil
	case stepupv1.Factor_FACTOR_EMAIL:
		return u.Email != nil
	default:
		return false
	}
}

// allFactors lists the factors in the order they are reported.
var allFactors = []stepupv1.Factor{
	stepupv1.Factor_FACTOR_TOTP, stepupv1.Factor_FACTOR_RECOVERY_CODE,
	stepupv1.Factor_FACTOR_SMS, stepupv1.Factor_FACTOR_EMAIL,
}

// enrolledFactors lists what u can prove, for LoginResponse. A verified phone or email
// counts even while its delivery is not configured: turning a sender off must not
// lower the step-up an account needs for changes.
func enrolledFactors(u *store.User) []stepupv1.Factor {
	var out []stepupv1.Factor
	for _, f := range allFactors {
		if hasFactor(u, f) {
			out = append(out, f)
		}
	}
	return out
}

// anyFactor reports whether u has a second factor, which makes factor and password
// changes require a step-up.
func anyFactor(u *store.User) bool { return len(enrolledFactors(u)) > 0 }
