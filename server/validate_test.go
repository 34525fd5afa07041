package server

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// TestValidateTokenReasons: ValidateToken answers every bad token with a verdict, not an
// RPC error, and names the reason.
func TestValidateTokenReasons(t *testing.T) {
	const (
		ok            = stepupv1.ValidationReason_VALIDATION_REASON_OK
		malformed     = stepupv1.ValidationReason_VALIDATION_REASON_MALFORMED
		badSignature  = stepupv1.ValidationReason_VALIDATION_REASON_BAD_SIGNATURE
		expired       = stepupv1.ValidationReason_VALIDATION_REASON_EXPIRED
		notYetValid   = stepupv1.ValidationReason_VALIDATION_REASON_NOT_YET_VALID
		wrongIssuer   = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_ISSUER
		wrongAudience = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_AUDIENCE
		revoked       = stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
		disabled      = stepupv1.ValidationReason_VALIDATION_REASON_USER_DISABLED
		unknownUser   = stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_USER
		lowACR        = stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR
		tooOld        = stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD
		unknownKey    = stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_KEY
		wrongType     = stepupv1.ValidationReason_VALIDATION_REASON_WRONG_TYPE
	)
	// exp is 15 minutes after login (the default access token TTL); leeway is 30 seconds.
	const pastLeeway = 15*time.Minute + 30*time.Second
	same := func(_ *harness, tok string) string { return tok }
	later := func(d time.Duration) func(*harness, string) string {
		return func(h *harness, tok string) string { h.clock.Advance(d); return tok }
	}
	admin := func(call func(h *harness, ref *stepupv1.UserRef) error) func(*harness, string) string {
		return func(h *harness, tok string) string {
			if err := call(h, userRef(h.claimsOf(tok).Subject)); err != nil {
				h.t.Fatal(err)
			}
			return tok
		}
	}
	resigned := func(mutate func(*token.Claims)) func(*harness, string) string {
		return func(h *harness, tok string) string { return h.resign(tok, h.serverSigner(), mutate) }
	}
	tests := []struct {
		name   string
		token  func(h *harness, tok string) string // from the login's aal1 token
		acr    string
		maxAge time.Duration
		want   stepupv1.ValidationReason
	}{
		{"valid", same, "", 0, ok},
		{"aal1 required", same, "aal1", 0, ok},
		{"aal2 required", same, "aal2", 0, lowACR},
		{"at exp plus leeway", later(pastLeeway), "", 0, ok},
		{"past exp plus leeway", later(pastLeeway + time.Second), "", 0, expired},
		{"max_age reached exactly", later(time.Minute), "", time.Minute, ok},
		{"max_age exceeded by 1s", later(time.Minute + time.Second), "", time.Minute, tooOld},
		{"foreign key, our kid", func(h *harness, tok string) string {
			return h.resign(tok, foreignSigner(t, h.serverSigner().KeyID()), func(*token.Claims) {})
		}, "", 0, badSignature},
		{"foreign key, other kid", func(h *harness, tok string) string {
			return h.resign(tok, foreignSigner(t, ""), func(*token.Claims) {})
		}, "", 0, unknownKey},
		{"wrong audience", resigned(func(c *token.Claims) { c.Audience = []string{"billing"} }), "", 0, wrongAudience},
		{"wrong issuer", resigned(func(c *token.Claims) { c.Issuer = "elsewhere" }), "", 0, wrongIssuer},
		{"unknown user", resigned(func(c *token.Claims) { c.Subject = "u_nobody" }), "", 0, unknownUser},
		{"nbf in the future", resigned(func(c *token.Claims) {
			c.IssuedAt, c.NotBefore = c.IssuedAt.Add(time.Minute), c.NotBefore.Add(time.Minute)
			c.Expiry = c.Expiry.Add(time.Minute)
		}), "", 0, notYetValid},
		{"typ JWT", func(h *harness, tok string) string { return h.withType(tok, "JWT") }, "", 0, wrongType},
		{"garbage", func(*harness, string) string { return "garbage" }, "", 0, malformed},
		{"empty", func(*harness, string) string { return "" }, "", 0, malformed},
		{"only dots", func(*harness, string) string { return strings.Repeat(".", 10000) }, "", 0, malformed},
		{"60 KiB", func(*harness, string) string { return strings.Repeat("a", 60<<10) }, "", 0, malformed},
		{"signature stripped", func(_ *harness, tok string) string {
			return tok[:strings.LastIndexByte(tok, '.')+1]
		}, "", 0, malformed},
		{"logged out", func(h *harness, tok string) string {
			if _, err := h.auth.Logout(h.bearer(tok), &stepupv1.LogoutRequest{}); err != nil {
				h.t.Fatal(err)
			}
			return tok
		}, "", 0, revoked},
		{"user tokens revoked", admin(func(h *harness, ref *stepupv1.UserRef) error {
			_, err := h.admin.RevokeUserTokens(h.ctx(), &stepupv1.RevokeUserTokensRequest{User: ref})
			return err
		}), "", 0, revoked},
		{"user tokens revoked a second later", func(h *harness, tok string) string {
			h.clock.Advance(time.Second)
			return admin(func(h *harness, ref *stepupv1.UserRef) error {
				_, err := h.admin.RevokeUserTokens(h.ctx(), &stepupv1.RevokeUserTokensRequest{User: ref})
				return err
			})(h, tok)
		}, "", 0, revoked},
		{"user disabled", admin(func(h *harness, ref *stepupv1.UserRef) error {
			_, err := h.admin.DisableUser(h.ctx(), &stepupv1.DisableUserRequest{User: ref})
			return err
		}), "", 0, disabled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createUser("alice")
			tok := tc.token(h, h.login("alice").GetAccessToken())
			var maxAge *durationpb.Duration
			if tc.maxAge != 0 {
				maxAge = durationpb.New(tc.maxAge)
			}
			resp := h.validate(tok, tc.acr, maxAge)
			if resp.GetReason() != tc.want || resp.GetValid() != (tc.want == ok) {
				t.Fatalf("valid %v, reason %v; want reason %v", resp.GetValid(), resp.GetReason(), tc.want)
			}
			if tc.want == ok && resp.GetClaims().GetSubject() != id {
				t.Fatalf("claims %v", resp.GetClaims())
			}
		})
	}
}

// TestValidateTokenBadRequest: a malformed requirement is the caller's bug and gets
// INVALID_ARGUMENT naming the field, rather than a verdict on the token.
func TestValidateTokenBadRequest(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	tok := h.login("alice").GetAccessToken()
	tests := []struct {
		name   string
		acr    string
		maxAge *durationpb.Duration
		field  string
	}{
		{"unknown acr", "aal3", nil, "required_acr"},
		{"acr in upper case", "AAL2", nil, "required_acr"},
		{"negative max_age", "", durationpb.New(-time.Second), "max_age"},
		{"zero max_age", "", durationpb.New(0), "max_age"},
		{"out-of-range max_age", "", &durationpb.Duration{Seconds: 1, Nanos: 2e9}, "max_age"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &stepupv1.ValidateTokenRequest{Token: tok, RequiredAcr: tc.acr, MaxAge: tc.maxAge}
			_, err := h.auth.ValidateToken(h.ctx(), req)
			st := wantCode(t, err, codes.InvalidArgument)
			if f := badRequestFields(st.Details()); len(f) != 1 || f[0] != tc.field {
				t.Fatalf("BadRequest fields %v, want [%s]", f, tc.field)
			}
		})
	}
}

// badRequestFields lists the fields named by BadRequest details.
func badRequestFields(details []any) []string {
	var fields []string
	for _, d := range details {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// TestValidateTokenMessageBound: the 64 KiB bound on requests stops a 1 MB token at the
// transport with RESOURCE_EXHAUSTED, and the server keeps answering afterwards.
func TestValidateTokenMessageBound(t *testing.T) {
	h := newHarness(t)
	_, err := h.auth.ValidateToken(h.ctx(), &stepupv1.ValidateTokenRequest{Token: strings.Repeat("a", 1<<20)})
	wantCode(t, err, codes.ResourceExhausted)

	_, err = h.auth.ValidateToken(h.ctx(), &stepupv1.ValidateTokenRequest{Token: strings.Repeat("a", MaxRecvMsgSize+1)})
	wantCode(t, err, codes.ResourceExhausted)

	if got := h.reason("garbage"); got != stepupv1.ValidationReason_VALIDATION_REASON_MALFORMED {
		t.Fatalf("after the oversized request: %v", got)
	}
}
