package token

import (
	"fmt"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4/json"
)

// Header and claim values shared by the issuer and every verifier.
const (
	// Type is the typ header of an access token (RFC 9068 §2.1). Verify also accepts
	// its long form "application/at+jwt", in any letter case.
	Type = "at+jwt"

	// ACR1 is the acr of a session that proved one factor (NIST SP 800-63B AAL1).
	ACR1 = "aal1"
	// ACR2 is the acr of a session that proved two distinct factors (AAL2).
	ACR2 = "aal2"

	// AMRPassword is the amr value for a password (RFC 8176 §2).
	AMRPassword = "pwd"
	// AMROTP is the amr value for a one-time password such as TOTP (RFC 8176 §2).
	AMROTP = "otp"
	// AMRSMS is the amr value for a code sent by text message (RFC 8176 §2).
	AMRSMS = "sms"
	// AMRMFA is the amr value that says more than one factor was used (RFC 8176 §2).
	AMRMFA = "mfa"
	// AMRRecoveryCode is the amr value for a single-use recovery code. RFC 8176
	// registers no value for it, and none of the registered ones fits: "otp" would let
	// a policy that trusts authenticator apps also trust a code printed on paper, and
	// "kba" means knowledge-based questions. RFC 8176 §1 allows unregistered values, so
	// the service names it itself and relying parties can tell a recovery apart.
	AMRRecoveryCode = "rcode"

	// AlgEdDSA is the JWS algorithm for Ed25519 signatures (RFC 8037).
	AlgEdDSA = "EdDSA"
	// AlgES256 is the JWS algorithm for ECDSA over P-256 with SHA-256 (RFC 7518 §3.4).
	AlgES256 = "ES256"

	// MaxTokenSize is the largest compact token, in bytes, that is decoded at all.
	// Real access tokens are well under 1 KiB; the cap bounds the work an
	// unauthenticated caller can cause before the signature is checked.
	MaxTokenSize = 8 << 10
)

// maxNumericDate is 9999-12-31T23:59:59Z. Dates beyond it are rejected so that no
// arithmetic on them can overflow.
const maxNumericDate = 253402300799

// Claims are the claims of a stepup access token. Every field is required: Sign
// refuses to issue a token that lacks one, and Verify rejects a token that lacks one.
type Claims struct {
	Issuer    string // iss
	Subject   string // sub: the user id
	ClientID  string // client_id: the client the token was issued to (RFC 9068 §2.2)
	ID        string // jti: unique per token, the handle for revocation
	SessionID string // sid: the login session the token belongs to
	ACR       string // acr: the assurance level reached, ACR1 or ACR2

	Audience []string // aud: the services that may accept the token
	AMR      []string // amr: the methods used, such as AMRPassword and AMROTP

	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expiry    time.Time // exp
	AuthTime  time.Time // auth_time: when the user last authenticated (RFC 9068 §2.2.1)
}

// wireClaims is the JSON form of Claims. Strings and lists must be non-empty, so a
// plain type tells "missing" and "null" apart from a value; NumericDates record
// whether they were present, because zero is a valid date.
type wireClaims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	ClientID  string      `json:"client_id"`
	Expiry    numericDate `json:"exp"`
	IssuedAt  numericDate `json:"iat"`
	NotBefore numericDate `json:"nbf"`
	AuthTime  numericDate `json:"auth_time"`
	ID        string      `json:"jti"`
	SessionID string      `json:"sid"`
	ACR       string      `json:"acr"`
	AMR       []string    `json:"amr"`
}

// numericDate is a JSON NumericDate restricted to a non-negative integer number of
// seconds. Fractions, exponents, strings and huge values are rejected rather than
// rounded, since the issuer only ever writes integers.
type numericDate struct {
	sec int64
	set bool
}

// UnmarshalJSON accepts only plain decimal digits; "null" leaves the date unset.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || len(b) > 12 {
		return errNumericDate
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return errNumericDate
		}
		n = n*10 + int64(c-'0')
	}
	if n > maxNumericDate {
		return errNumericDate
	}
	*d = numericDate{sec: n, set: true}
	return nil
}

// MarshalJSON writes the date as an integer.
func (d numericDate) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, d.sec, 10), nil
}

func (d numericDate) time() time.Time { return time.Unix(d.sec, 0).UTC() }

func dateOf(t time.Time) numericDate {
	s := t.Unix()
	return numericDate{sec: s, set: !t.IsZero() && s >= 0 && s <= maxNumericDate}
}

var errNumericDate = fmt.Errorf("%w: NumericDate is not a non-negative integer", ErrMalformed)

// audience is the aud claim, which RFC 7519 §4.1.3 allows as one string or an array.
type audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// MarshalJSON writes a single audience as a plain string, the common form.
func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// check reports the first claim that is missing or empty, or "" if all are set.
// Sign and Verify both call it, so the issuer cannot mint a token the verifiers
// would refuse.
func (w *wireClaims) check() string {
	strs := [...]struct{ name, v string }{
		{"iss", w.Issuer}, {"sub", w.Subject}, {"client_id", w.ClientID},
		{"jti", w.ID}, {"sid", w.SessionID}, {"acr", w.ACR},
	}
	for _, s := range strs {
		if s.v == "" {
			return s.name
		}
	}
	dates := [...]struct {
		name string
		d    numericDate
	}{{"exp", w.Expiry}, {"iat", w.IssuedAt}, {"nbf", w.NotBefore}, {"auth_time", w.AuthTime}}
	for _, d := range dates {
		if !d.d.set {
			return d.name
		}
	}
	if !nonEmpty(w.Audience) {
		return "aud"
	}
	if !nonEmpty(w.AMR) {
		return "amr"
	}
	return ""
}

// nonEmpty reports whether list has at least one element and no empty ones.
func nonEmpty(list []string) bool {
	for _, s := range list {
		if s == "" {
			return false
		}
	}
	return len(list) > 0
}

// wire converts c to its JSON form and checks it as Verify would.
func (c *Claims) wire() (*wireClaims, error) {
	w := &wireClaims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: audience(c.Audience),
		ClientID: c.ClientID, ID: c.ID, SessionID: c.SessionID, ACR: c.ACR, AMR: c.AMR,
		Expiry: dateOf(c.Expiry), IssuedAt: dateOf(c.IssuedAt),
		NotBefore: dateOf(c.NotBefore), AuthTime: dateOf(c.AuthTime),
	}
	if name := w.check(); name != "" {
		return nil, fmt.Errorf("%w: claim %s is missing or out of range", ErrInvalidClaims, name)
	}
	if w.AuthTime.sec > w.IssuedAt.sec {
		return nil, fmt.Errorf("%w: auth_time is after iat", ErrInvalidClaims)
	}
	return w, nil
}

// claims converts the decoded form to Claims; the caller has run check.
func (w *wireClaims) claims() *Claims {
	return &Claims{
		Issuer: w.Issuer, Subject: w.Subject, ClientID: w.ClientID, ID: w.ID,
		SessionID: w.SessionID, ACR: w.ACR, Audience: w.Audience, AMR: w.AMR,
		IssuedAt: w.IssuedAt.time(), NotBefore: w.NotBefore.time(),
		Expiry: w.Expiry.time(), AuthTime: w.AuthTime.time(),
	}
}
