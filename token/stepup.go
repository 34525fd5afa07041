package token

import (
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The ErrorInfo of a step-up challenge: the gRPC form of RFC 9470's
// WWW-Authenticate: Bearer error="insufficient_user_authentication".
const (
	stepUpMessage = "step-up authentication required"
	stepUpReason  = "INSUFFICIENT_USER_AUTHENTICATION"
	stepUpDomain  = "stepup"
	mdACRValues   = "acr_values"
	mdMaxAge      = "max_age"
)

// maxMaxAge keeps a parsed max_age within time.Duration.
const maxMaxAge = int64(1<<63-1) / int64(time.Second)

// Values for a step-up by a code sent to an email address.
const (
	// ACREmailOTP is the acr of a session whose second factor was a code sent by email.
	// NIST SP 800-63B section 5.1.3.1 does not accept email as an out-of-band
	// authenticator, so it ranks above ACR1 and below ACR2; Requirement.EmailIsAAL2 is
	// the policy that lets it count as ACR2.
	ACREmailOTP = "email-otp"
	// AMREmail is the amr value for a code sent by email. RFC 8176 registers none; its
	// section 1 allows unregistered values, and "otp" would hide the weaker channel.
	AMREmail = "email"
)

// Requirement is what a call demands of the user's authentication. A zero field
// demands nothing.
type Requirement struct {
	ACR    string        // the lowest acceptable acr, such as ACR2
	MaxAge time.Duration // the longest time since auth_time; negative is never met
	// EmailIsAAL2 lets an ACREmailOTP token meet an ACR2 requirement. Off by default:
	// a code sent by email proves access to a mailbox, which NIST SP 800-63B does not
	// accept as a second factor.
	EmailIsAAL2 bool
}

// acrRank orders the known acr values; unknown values rank lowest.
func acrRank(acr string) int {
	switch acr {
	case ACR1:
		return 1
	case ACREmailOTP:
		return 2
	case ACR2:
		return 3
	}
	return 0
}

// Satisfies reports whether the token's authentication meets r at time now: nil,
// ErrInsufficientACR, or ErrAuthTooOld. An acr in the token that this package does
// not know ranks below ACR1. An unknown acr in r is met only by the identical
// string, so a typo in a policy ("aal3") fails closed instead of open.
func (c *Claims) Satisfies(r Requirement, now time.Time) error {
	if c == nil {
		return ErrInsufficientACR
	}
	have := c.ACR
	if r.EmailIsAAL2 && have == ACREmailOTP {
		have = ACR2
	}
	if r.ACR != "" && !acrMeets(have, r.ACR) {
		return ErrInsufficientACR
	}
	if r.MaxAge != 0 && (r.MaxAge < 0 || now.Sub(c.AuthTime) > r.MaxAge) {
		return ErrAuthTooOld
	}
	return nil
}

func acrMeets(have, want string) bool {
	if acrRank(want) == 0 {
		return have == want
	}
	return acrRank(have) >= acrRank(want)
}

// StepUpError returns the status a server sends when a token does not satisfy r:
// Unauthenticated, "step-up authentication required", and an ErrorInfo with reason
// INSUFFICIENT_USER_AUTHENTICATION, domain "stepup", and metadata acr_values and
// max_age (whole seconds, rounded up so a positive MaxAge never reads as "none").
// Either key is omitted when its field is zero or negative.
func StepUpError(r Requirement) error {
	md := map[string]string{}
	if r.ACR != "" {
		md[mdACRValues] = r.ACR
	}
	if r.MaxAge > 0 {
		secs := (r.MaxAge + time.Second - 1) / time.Second
		md[mdMaxAge] = strconv.FormatInt(int64(secs), 10)
	}
	st := status.New(codes.Unauthenticated, stepUpMessage)
	detailed, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason: stepUpReason, Domain: stepUpDomain, Metadata: md,
	})
	if err != nil {
		// Only possible if the ErrorInfo fails to marshal; the bare status still tells
		// the client to authenticate.
		return st.Err()
	}
	return detailed.Err()
}

// ParseStepUpError recognises an error made by StepUpError, also after it crossed
// the wire, and returns its requirement. A malformed max_age makes it return false.
func ParseStepUpError(err error) (Requirement, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unauthenticated {
		return Requirement{}, false
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if ok && info.GetReason() == stepUpReason && info.GetDomain() == stepUpDomain {
			return requirementOf(info.GetMetadata())
		}
	}
	return Requirement{}, false
}

func requirementOf(md map[string]string) (Requirement, bool) {
	r := Requirement{ACR: md[mdACRValues]}
	s, ok := md[mdMaxAge]
	if !ok {
		return r, true
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs < 0 || secs > maxMaxAge {
		return Requirement{}, false
	}
	r.MaxAge = time.Duration(secs) * time.Second
	return r, true
}
