package store

import "time"

// User is an account. Secret fields hold plaintext in memory; the store seals them on
// write and opens them on read.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"password_hash"` // PHC-format argon2id string
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`

	// TokensNotBefore: tokens with iat before this instant do not validate.
	TokensNotBefore time.Time `json:"tokens_not_before,omitzero"`

	// TOTP is the confirmed authenticator, nil when none is enrolled.
	TOTP *TOTP `json:"totp,omitempty"`
	// PendingTOTP is a secret handed out by BeginTotpEnrollment and not yet confirmed.
	PendingTOTP *TOTP `json:"pending_totp,omitempty"`
	// TOTPLastStep is the highest TOTP time step ever accepted for this user. It outlives
	// re-enrollment so that no step is accepted twice (RFC 6238 section 5.2).
	TOTPLastStep int64 `json:"totp_last_step,omitempty"`

	// Recovery codes are stored as argon2id hashes under one salt per set.
	RecoveryCodes *RecoveryCodeSet `json:"recovery_codes,omitempty"`

	// Email and Phone are the verified addresses that receive one-time codes; nil when
	// none is verified. PendingEmail and PendingPhone are addresses waiting for their
	// confirmation code.
	Email        *Contact `json:"email,omitempty"`
	Phone        *Contact `json:"phone,omitempty"`
	PendingEmail *Contact `json:"pending_email,omitempty"`
	PendingPhone *Contact `json:"pending_phone,omitempty"`

	// SecondFactorFailures counts consecutive failed second-factor attempts across all
	// challenges and sessions; a success resets it.
	SecondFactorFailures int `json:"second_factor_failures,omitempty"`
	// SecondFactorLockedUntil refuses second-factor attempts until this instant.
	SecondFactorLockedUntil time.Time `json:"second_factor_locked_until,omitzero"`
	// SecondFactorWindowStart and SecondFactorWindowFailures count failures in the
	// current fixed window; unlike SecondFactorFailures, a success does not reset them.
	SecondFactorWindowStart    time.Time `json:"second_factor_window_start,omitzero"`
	SecondFactorWindowFailures int       `json:"second_factor_window_failures,omitempty"`
}

// TOTP is an authenticator-app secret.
type TOTP struct {
	Secret    []byte    `json:"-"` // sealed on disk as SealedSecret
	CreatedAt time.Time `json:"created_at"`

	SealedSecret []byte `json:"sealed_secret"`
}

// Contact is an email address or an E.164 phone number that codes are sent to.
//
// TODO: Address is personal data stored in clear in the user record; sealing it like
// the TOTP secret would keep it out of a copied database file.
type Contact struct {
	Address string `json:"address"`
	// ChallengeID, on a pending address, is the challenge holding its confirmation code.
	ChallengeID string    `json:"challenge_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// VerifiedAt is when the confirmation code was accepted; zero while pending.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// StepUp, on a pending address, records that adding it needed a step-up. An
	// address added while the user had no factor needs one at confirmation if a factor
	// was enrolled in between.
	StepUp bool `json:"step_up,omitempty"`
}

// RecoveryCodeSet is a set of single-use recovery codes.
type RecoveryCodeSet struct {
	Salt      []byte         `json:"salt"`
	CreatedAt time.Time      `json:"created_at"`
	Codes     []RecoveryCode `json:"codes"`
}

// RecoveryCode is one code of a set, stored only as a hash.
type RecoveryCode struct {
	Hash   []byte    `json:"hash"`
	UsedAt time.Time `json:"used_at,omitzero"`
}

// Remaining counts the unused codes of the set.
func (s *RecoveryCodeSet) Remaining() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, c := range s.Codes {
		if c.UsedAt.IsZero() {
			n++
		}
	}
	return n
}

// Session is one login: every token and refresh token it issues carries its id (sid).
type Session struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the absolute end of the session; refresh stops working after it.
	ExpiresAt time.Time `json:"expires_at"`
	// EndedAt is set by logout, refresh-token reuse, password change or revocation.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// EndReason says why the session ended, for operators ("logout", "refresh_reuse", ...).
	EndReason string `json:"end_reason,omitempty"`
}

// Ended reports whether the session has been ended or has run out at now.
func (s *Session) Ended(now time.Time) bool {
	return !s.EndedAt.IsZero() || !now.Before(s.ExpiresAt)
}

// RefreshToken is the stored form of an opaque refresh token, keyed by its SHA-256.
type RefreshToken struct {
	Hash      []byte    `json:"hash"`
	SessionID string    `json:"session_id"`
	UserID    string    `json:"user_id"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// UsedAt is set when the token is traded in; a second use ends the session.
	UsedAt time.Time `json:"used_at,omitzero"`
}

// Challenge is a single-use second-factor challenge bound to a user and a session.
type Challenge struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	SessionID string    `json:"session_id"`
	Factor    int32     `json:"factor"` // a stepupv1.Factor value
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Attempts counts wrong codes; the challenge burns at the configured limit.
	Attempts int `json:"attempts,omitempty"`
	// ConsumedAt is set on success or when the challenge burns.
	ConsumedAt time.Time `json:"consumed_at,omitzero"`
	// CodeHash is the hash of a code sent out of band (SMS, email); empty for TOTP.
	CodeHash []byte `json:"code_hash,omitempty"`
	// Purpose is ChallengeConfirm for a code that confirms a new address; empty for a
	// step-up. A code is only ever accepted for its own purpose.
	Purpose string `json:"purpose,omitempty"`
	// Destination is a keyed fingerprint of the address the code was sent to, so the
	// code stops working if that address is replaced. Empty for TOTP.
	Destination string `json:"destination,omitempty"`
}

// ChallengeConfirm is the Purpose of a challenge that confirms a new email address or
// phone number.
const ChallengeConfirm = "confirm"

// SendLog is the recent delivery history of one rate-limit key (a user, or a
// destination's fingerprint).
type SendLog struct {
	// Sent holds the times codes were sent, oldest first.
	Sent []time.Time `json:"sent"`
	// Open is the challenge id of the latest code sent to a destination, until that
	// code is answered correctly; a new code while it is open is a resend.
	Open string `json:"open,omitempty"`
}

// KeyState is where a signing key is in its life.
type KeyState string

// Signing key states, in the order a key moves through them.
const (
	KeyNext    KeyState = "next"    // published, not yet signing
	KeyCurrent KeyState = "current" // signing
	KeyRetired KeyState = "retired" // published until every token it signed has expired
)

// SigningKey is a token signing key.
type SigningKey struct {
	ID         string    `json:"id"`  // kid
	Alg        string    `json:"alg"` // "EdDSA" or "ES256"
	Private    []byte    `json:"-"`   // PKCS #8 DER; sealed on disk as SealedPrivate
	Public     []byte    `json:"public"`
	State      KeyState  `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	ActivateAt time.Time `json:"activate_at,omitzero"` // when a next key may start signing
	RetiredAt  time.Time `json:"retired_at,omitzero"`
	// RemoveAt is when a retired key may be deleted: after every token it signed expired.
	RemoveAt time.Time `json:"remove_at,omitzero"`

	SealedPrivate []byte `json:"sealed_private"`
}
