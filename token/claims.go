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

// Claims are the claims of a stepup access token. A token is one of two kinds, told
// apart by sid (see IsService):
//
//   - a user token carries sid, acr, amr and auth_time, all required;
//   - a service token, which a registered service gets for itself, carries none of
//     them, and its sub equals its client_id, the service's name.
//
// Every other field is required for both kinds. Sign refuses claims that break these
// rules and Verify rejects a token that breaks them.
type Claims struct {
	Issuer    string // iss
	Subject   string // sub: the user id, or the service name of a service token
	ClientID  string // client_id: the client the token was issued to (RFC 9068 §2.2)
	ID        string // jti: unique per token, the handle for revocation
	SessionID string // sid: the login session the token belongs to; empty for a service token
	ACR       string // acr: the assurance level reached, ACR1 or ACR2; empty for a service token

	Audience []string // aud: the services that may accept the token
	AMR      []string // amr: the methods used, such as AMRPassword and AMROTP

	// Actor is the act claim of an exchanged user token (RFC 8693 §4.1) as a list of
	// service names, outermost first: Actor[0] is the service that made the latest
	// exchange and equals ClientID, the last entry is the first service in the chain.
	// Empty when the token was not exchanged. At most MaxActorDepth entries.
	Actor []string

	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expiry    time.Time // exp
	AuthTime  time.Time // auth_time: when the user last authenticated (RFC 9068 §2.2.1)
}

// IsService reports whether c is a service token: one with no sid, whose subject is
// a registered service rather than a user.
func (c *Claims) IsService() bool { return c.SessionID == "" }

// MaxActorDepth bounds the act chain: a token exchanged more often than this along
// one call path is refused, by ExchangeToken and by Verify. Real chains are two or
// three services deep; the bound keeps decoding and policy checks cheap.
const MaxActorDepth = 8

// ValidServiceName reports whether name is a well-formed service name:
// ^[a-z][a-z0-9-]{0,62}$. User ids start with "u_", so a service name can never be
// read as a user id, nor the other way round.
func ValidServiceName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// wireClaims is the JSON form of Claims. Strings and lists must be non-empty, so a
// plain type tells "missing" and "null" apart from a value; NumericDates record
// whether they were present, because zero is a valid date. The claims that only a
// user token has are pointers, so a present but empty value ("sid":"") is told apart
// from an absent one and rejected; a JSON null counts as absent.
type wireClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	ClientID  string       `json:"client_id"`
	Expiry    numericDate  `json:"exp"`
	IssuedAt  numericDate  `json:"iat"`
	NotBefore numericDate  `json:"nbf"`
	AuthTime  *numericDate `json:"auth_time,omitempty"`
	ID        string       `json:"jti"`
	SessionID *string      `json:"sid,omitempty"`
	ACR       *string      `json:"acr,omitempty"`
	AMR       []string     `json:"amr,omitempty"`
	Act       *wireActor   `json:"act,omitempty"`
}

// wireActor is one level of the act claim (RFC 8693 §4.1): the acting party's sub
// and, nested, the party that acted before it. Other members are ignored.
type wireActor struct {
	Subject string     `json:"sub"`
	Act     *wireActor `json:"act,omitempty"`
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

// check reports the first claim that is missing, empty, or not allowed in a token of
// its kind, or "" if the claims are well formed. Sign and Verify both call it, so the
// issuer cannot mint a token the verifiers would refuse.
func (w *wireClaims) check() string {
	strs := [...]struct{ name, v string }{
		{"iss", w.Issuer}, {"sub", w.Subject}, {"client_id", w.ClientID}, {"jti", w.ID},
	}
	for _, s := range strs {
		if s.v == "" {
			return s.name
		}
	}
	dates := [...]struct {
		name string
		d    numericDate
	}{{"exp", w.Expiry}, {"iat", w.IssuedAt}, {"nbf", w.NotBefore}}
	for _, d := range dates {
		if !d.d.set {
			return d.name
		}
	}
	if !nonEmpty(w.Audience) {
		return "aud"
	}
	if w.SessionID == nil {
		return w.checkService()
	}
	return w.checkUser()
}

// checkUser applies the rules of a user token: sid, acr, amr and auth_time present,
// and an act chain, if any, whose outermost actor is the client_id.
func (w *wireClaims) checkUser() string {
	switch {
	case *w.SessionID == "":
		return "sid"
	case w.ACR == nil || *w.ACR == "":
		return "acr"
	case !nonEmpty(w.AMR):
		return "amr"
	case w.AuthTime == nil || !w.AuthTime.set:
		return "auth_time"
	}
	if w.Act == nil {
		return ""
	}
	if _, ok := actorChain(w.Act); !ok || w.Act.Subject != w.ClientID {
		return "act"
	}
	return ""
}

// checkService applies the rules of a service token: no user claims at all, no act,
// and a sub that is a service name equal to client_id. The absence checks are what
// keep a service token from ever being read as a user's authentication.
func (w *wireClaims) checkService() string {
	switch {
	case w.ACR != nil:
		return "acr"
	case w.AMR != nil:
		return "amr"
	case w.AuthTime != nil:
		return "auth_time"
	case w.Act != nil:
		return "act"
	case w.Subject != w.ClientID || !ValidServiceName(w.Subject):
		return "sub"
	}
	return ""
}

// actorChain flattens an act claim, outermost first. It fails on an empty or
// malformed sub, and on a chain deeper than MaxActorDepth.
func actorChain(a *wireActor) ([]string, bool) {
	var chain []string
	for ; a != nil; a = a.Act {
		if len(chain) == MaxActorDepth || !ValidServiceName(a.Subject) {
			return nil, false
		}
		chain = append(chain, a.Subject)
	}
	return chain, true
}

// actorOf nests chain, outermost first, into an act claim; nil for an empty chain.
func actorOf(chain []string) *wireActor {
	var a *wireActor
	for i := len(chain) - 1; i >= 0; i-- {
		a = &wireActor{Subject: chain[i], Act: a}
	}
	return a
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
		ClientID: c.ClientID, ID: c.ID,
		Expiry: dateOf(c.Expiry), IssuedAt: dateOf(c.IssuedAt), NotBefore: dateOf(c.NotBefore),
		Act: actorOf(c.Actor),
	}
	if !c.IsService() {
		sid, acr, authTime := c.SessionID, c.ACR, dateOf(c.AuthTime)
		w.SessionID, w.ACR, w.AMR, w.AuthTime = &sid, &acr, c.AMR, &authTime
	} else if c.ACR != "" || c.AMR != nil || !c.AuthTime.IsZero() {
		return nil, fmt.Errorf("%w: a token without sid must not have acr, amr or auth_time",
			ErrInvalidClaims)
	}
	if name := w.check(); name != "" {
		return nil, fmt.Errorf("%w: claim %s is missing, out of range or not allowed", ErrInvalidClaims, name)
	}
	if w.AuthTime != nil && w.AuthTime.sec > w.IssuedAt.sec {
		return nil, fmt.Errorf("%w: auth_time is after iat", ErrInvalidClaims)
	}
	return w, nil
}

// claims converts the decoded form to Claims; the caller has run check.
func (w *wireClaims) claims() *Claims {
	c := &Claims{
		Issuer: w.Issuer, Subject: w.Subject, ClientID: w.ClientID, ID: w.ID,
		Audience: w.Audience, AMR: w.AMR,
		IssuedAt: w.IssuedAt.time(), NotBefore: w.NotBefore.time(), Expiry: w.Expiry.time(),
	}
	if w.SessionID != nil {
		c.SessionID, c.ACR, c.AuthTime = *w.SessionID, *w.ACR, w.AuthTime.time()
	}
	c.Actor, _ = actorChain(w.Act)
	return c
}
