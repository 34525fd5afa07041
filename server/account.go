package server

import (
	"context"
	"errors"
	"time"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/otp"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// pendingTOTPTTL is how long a TOTP secret from BeginTotpEnrollment can be confirmed.
const pendingTOTPTTL = 10 * time.Minute

// updateUser runs fn on the caller's user, freshly loaded inside one write transaction,
// and stores the result unless fn fails. Policy checks inside fn see the stored state,
// not the snapshot the interceptor loaded.
func (s *Server) updateUser(ctx context.Context, op string, fn func(tx *store.Tx, u *store.User) error) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	err = s.store.Update(func(tx *store.Tx) error {
		u, err := tx.User(c.user.ID)
		if err != nil {
			return notFoundAs(err, errBadToken)
		}
		if err := fn(tx, u); err != nil {
			return err
		}
		return tx.PutUser(u)
	})
	return s.toStatus(ctx, op, err)
}

// stepUpIfEnrolled requires a fresh aal2 token when the user already has a second factor:
// otherwise someone who knows only the password could add their own authenticator or
// replace the user's recovery codes.
func (s *Server) stepUpIfEnrolled(ctx context.Context, u *store.User) error {
	if !anyFactor(u) {
		return nil
	}
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	return s.stepUpFor(c, u)
}

// stepUpFor requires a recent step-up to the strongest acr u's factors reach: aal2, or
// "email-otp" when a verified email is u's only factor and EmailIsAAL2 is off.
// Demanding aal2 of that user would refuse every change for good, including adding a
// stronger factor, while what an attacker needs to pass is the same either way.
func (s *Server) stepUpFor(c *caller, u *store.User) error {
	if s.strongestACR(u) == token.ACREmailOTP {
		return s.requireACR(c, token.ACREmailOTP)
	}
	return s.requireStepUp(c)
}

// strongestACR is the highest acr a step-up with one of u's factors gives.
func (s *Server) strongestACR(u *store.User) string {
	for _, f := range enrolledFactors(u) {
		if stepUpACR(f) == token.ACR2 || s.cfg.EmailIsAAL2 {
			return token.ACR2
		}
	}
	return token.ACREmailOTP
}

// BeginTotpEnrollment creates a pending TOTP secret.
func (s *Server) BeginTotpEnrollment(ctx context.Context, _ *stepupv1.BeginTotpEnrollmentRequest) (*stepupv1.BeginTotpEnrollmentResponse, error) {
	secret, err := otp.NewSecret(s.cfg.Rand)
	if err != nil {
		return nil, s.toStatus(ctx, "totp_begin", err)
	}
	var username string
	err = s.updateUser(ctx, "totp_begin", func(_ *store.Tx, u *store.User) error {
		if err := s.stepUpIfEnrolled(ctx, u); err != nil {
			return err
		}
		username = u.Username
		u.PendingTOTP = &store.TOTP{Secret: secret, CreatedAt: s.cfg.Now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	uri := otp.URI(s.cfg.Issuer, username, secret)
	png, err := otp.QRPNG(uri)
	if err != nil {
		return nil, s.toStatus(ctx, "totp_begin", err)
	}
	return &stepupv1.BeginTotpEnrollmentResponse{
		Secret:     otp.EncodeSecret(secret),
		OtpauthUri: uri,
		QrPng:      png,
	}, nil
}

// ConfirmTotpEnrollment activates the pending secret after a correct code. The accepted
// step counts as used, so the confirmation code cannot also step up.
func (s *Server) ConfirmTotpEnrollment(ctx context.Context, req *stepupv1.ConfirmTotpEnrollmentRequest) (*stepupv1.ConfirmTotpEnrollmentResponse, error) {
	if len(req.GetCode()) > maxCodeLen {
		return nil, invalidArg("code", "too long")
	}
	now := s.cfg.Now()
	err := s.updateUser(ctx, "totp_confirm", func(_ *store.Tx, u *store.User) error {
		p := u.PendingTOTP
		if p == nil || now.Sub(p.CreatedAt) > pendingTOTPTTL {
			return errNoPending
		}
		// Checked again here, not only in Begin: an enrollment begun before the user's
		// first factor must not complete on the password alone after it.
		if err := s.stepUpIfEnrolled(ctx, u); err != nil {
			return err
		}
		step, ok := otp.Verify(p.Secret, req.GetCode(), now, u.TOTPLastStep, 1)
		if !ok {
			return errBadCode
		}
		u.TOTP, u.PendingTOTP, u.TOTPLastStep = p, nil, step
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &stepupv1.ConfirmTotpEnrollmentResponse{}, nil
}

// CreateRecoveryCodes replaces the recovery codes with a fresh set.
func (s *Server) CreateRecoveryCodes(ctx context.Context, _ *stepupv1.CreateRecoveryCodesRequest) (*stepupv1.CreateRecoveryCodesResponse, error) {
	codes, set, err := s.newRecoveryCodes()
	if err != nil {
		return nil, s.toStatus(ctx, "recovery_codes", err)
	}
	err = s.updateUser(ctx, "recovery_codes", func(_ *store.Tx, u *store.User) error {
		if err := s.stepUpIfEnrolled(ctx, u); err != nil {
			return err
		}
		u.RecoveryCodes = set
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &stepupv1.CreateRecoveryCodesResponse{Codes: codes}, nil
}

func (s *Server) newRecoveryCodes() ([]string, *store.RecoveryCodeSet, error) {
	codes, err := otp.NewRecoveryCodes(s.cfg.Rand, otp.RecoveryCodeCount)
	if err != nil {
		return nil, nil, err
	}
	salt, err := otp.NewRecoverySalt(s.cfg.Rand)
	if err != nil {
		return nil, nil, err
	}
	set := &store.RecoveryCodeSet{Salt: salt, CreatedAt: s.cfg.Now()}
	for _, code := range codes {
		normalized, _ := otp.NormalizeRecoveryCode(code)
		set.Codes = append(set.Codes, store.RecoveryCode{Hash: otp.HashRecoveryCode(normalized, salt)})
	}
	return codes, set, nil
}

// ListFactors lists the caller's enrolled factors.
func (s *Server) ListFactors(ctx context.Context, _ *stepupv1.ListFactorsRequest) (*stepupv1.ListFactorsResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	return &stepupv1.ListFactorsResponse{Factors: factorList(c.user)}, nil
}

func factorList(u *store.User) []*stepupv1.EnrolledFactor {
	var out []*stepupv1.EnrolledFactor
	for _, f := range enrolledFactors(u) {
		ef := &stepupv1.EnrolledFactor{Factor: f}
		if f == stepupv1.Factor_FACTOR_RECOVERY_CODE {
			ef.Remaining = int32(u.RecoveryCodes.Remaining())
		}
		out = append(out, ef)
	}
	return out
}

// RemoveFactor removes an enrolled factor. It always needs a fresh step-up. A removed
// email address or phone number is told, so its owner notices a removal they did not
// make.
func (s *Server) RemoveFactor(ctx context.Context, req *stepupv1.RemoveFactorRequest) (*stepupv1.RemoveFactorResponse, error) {
	var removed string
	err := s.updateUser(ctx, "remove_factor", func(_ *store.Tx, u *store.User) error {
		if !hasFactor(u, req.GetFactor()) {
			return errNotEnrolled
		}
		if err := s.stepUpIfEnrolled(ctx, u); err != nil {
			return err
		}
		switch req.GetFactor() {
		case stepupv1.Factor_FACTOR_TOTP:
			u.TOTP = nil // TOTPLastStep stays: a re-enrolled secret must not reuse a step
		case stepupv1.Factor_FACTOR_RECOVERY_CODE:
			u.RecoveryCodes = nil
		case stepupv1.Factor_FACTOR_SMS:
			removed, u.Phone = u.Phone.Address, nil
		case stepupv1.Factor_FACTOR_EMAIL:
			removed, u.Email = u.Email.Address, nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ch, ok := s.channelFor(req.GetFactor()); ok {
		c, _ := callerFrom(ctx)
		s.notifyChanged(ctx, c.user.ID, ch, removed, "")
	}
	return &stepupv1.RemoveFactorResponse{}, nil
}

// ChangePassword replaces the password after checking the current one, and ends every
// other session of the user. With a second factor enrolled it needs a fresh step-up.
func (s *Server) ChangePassword(ctx context.Context, req *stepupv1.ChangePasswordRequest) (*stepupv1.ChangePasswordResponse, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.stepUpIfEnrolled(ctx, c.user); err != nil {
		return nil, err
	}
	if err := password.Validate(req.GetNewPassword()); err != nil {
		return nil, invalidArg("new_password", passwordRule(err))
	}
	// The current-password check is a password oracle: it is throttled like Login.
	keys := loginKeys(ctx, c.user.Username)
	if err := s.throttled(keys...); err != nil {
		return nil, err
	}
	ok, err := false, error(nil)
	if len(req.GetCurrentPassword()) <= maxPasswordLen {
		ok, err = s.hasher.Verify(ctx, c.user.PasswordHash, req.GetCurrentPassword())
	}
	if err != nil {
		return nil, s.toStatus(ctx, "change_password", err)
	}
	if !ok {
		s.failedLogin(keys)
		return nil, errBadPassword
	}
	encoded, err := s.hasher.Hash(ctx, req.GetNewPassword())
	if err != nil {
		return nil, s.toStatus(ctx, "change_password", err)
	}
	now := s.cfg.Now()
	batch := s.newBatch()
	err = s.updateUser(ctx, "change_password", func(tx *store.Tx, u *store.User) error {
		u.PasswordHash = encoded
		return endOtherSessions(tx, u.ID, c.claims.SessionID, "password_change", now, batch)
	})
	if err != nil {
		return nil, err
	}
	s.revocations.publish(batch)
	s.log.InfoContext(ctx, "password changed", logUserID, c.user.ID)
	return &stepupv1.ChangePasswordResponse{}, nil
}

// passwordRule explains a password policy failure without echoing the password.
func passwordRule(err error) string {
	switch {
	case errors.Is(err, password.ErrTooShort):
		return "must be at least 8 characters"
	case errors.Is(err, password.ErrTooLong):
		return "must be at most 256 bytes"
	default:
		return "must be valid UTF-8"
	}
}

// endOtherSessions ends every session of userID except keep.
func endOtherSessions(tx *store.Tx, userID, keep, reason string, now time.Time, batch *revBatch) error {
	sessions, err := tx.UserSessions(userID)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if sess.ID == keep {
			continue
		}
		if err := endSession(tx, sess.ID, reason, now, batch); err != nil {
			return err
		}
	}
	return nil
}
