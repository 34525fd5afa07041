package server

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

const (
	reasonOK      = stepupv1.ValidationReason_VALIDATION_REASON_OK
	reasonRevoked = stepupv1.ValidationReason_VALIDATION_REASON_REVOKED
)

// addService registers name with a secret and returns the secret.
func (h *harness) addService(name string) string {
	h.t.Helper()
	resp, err := h.admin.AddService(h.ctx(), &stepupv1.AddServiceRequest{Name: name})
	if err != nil {
		h.t.Fatalf("AddService(%q): %v", name, err)
	}
	return resp.GetSecret()
}

// addKeyService registers name with one new EdDSA assertion key and no secret, and
// returns the private key.
func (h *harness) addKeyService(name string) *token.PrivateKey {
	h.t.Helper()
	k := newAssertionKey(h.t)
	req := &stepupv1.AddServiceRequest{Name: name, Jwks: jwksOf(h.t, k), WithoutSecret: true}
	if _, err := h.admin.AddService(h.ctx(), req); err != nil {
		h.t.Fatalf("AddService(%q): %v", name, err)
	}
	return k
}

func newAssertionKey(t *testing.T) *token.PrivateKey {
	t.Helper()
	k, err := token.GenerateKey(token.AlgEdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwksOf(t *testing.T, k *token.PrivateKey) string {
	t.Helper()
	set, err := token.NewKeySet(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// issueWithSecret asks for a service token with a secret.
func (h *harness) issueWithSecret(name, secret, aud string) (*stepupv1.IssueServiceTokenResponse, error) {
	return h.auth.IssueServiceToken(h.ctx(), &stepupv1.IssueServiceTokenRequest{
		Service: name, Credential: &stepupv1.IssueServiceTokenRequest_ClientSecret{ClientSecret: secret},
		Audience: aud,
	})
}

// serviceToken returns a service token of name for aud, failing the test on error.
func (h *harness) serviceToken(name, secret, aud string) string {
	h.t.Helper()
	resp, err := h.issueWithSecret(name, secret, aud)
	if err != nil {
		h.t.Fatalf("IssueServiceToken(%q, aud %q): %v", name, aud, err)
	}
	return resp.GetAccessToken()
}

// issueWithAssertion asks for a service token with a client assertion.
func (h *harness) issueWithAssertion(name, assertion string) error {
	_, err := h.auth.IssueServiceToken(h.ctx(), &stepupv1.IssueServiceTokenRequest{
		Service:    name,
		Credential: &stepupv1.IssueServiceTokenRequest_ClientAssertion{ClientAssertion: assertion},
	})
	return err
}

// reasonFor validates tok for audience aud.
func (h *harness) reasonFor(tok, aud string) stepupv1.ValidationReason {
	h.t.Helper()
	resp, err := h.auth.ValidateToken(h.ctx(), &stepupv1.ValidateTokenRequest{Token: tok, Audience: aud})
	if err != nil {
		h.t.Fatalf("ValidateToken(aud %q): %v", aud, err)
	}
	return resp.GetReason()
}

// claimsFor verifies tok with the verifier of audience aud and returns its claims.
func (h *harness) claimsFor(tok, aud string) *token.Claims {
	h.t.Helper()
	v, err := h.srv.verifierFor(aud)
	if err != nil {
		h.t.Fatalf("verifierFor(%q): %v", aud, err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		h.t.Fatalf("verify for %q: %v", aud, err)
	}
	return c
}

// exchange trades subject for a token for aud, calling as the holder of callerTok.
func (h *harness) exchange(callerTok, subject, aud string) (*stepupv1.ExchangeTokenResponse, error) {
	return h.auth.ExchangeToken(h.bearer(callerTok),
		&stepupv1.ExchangeTokenRequest{SubjectToken: subject, Audience: aud})
}

// TestAddServiceNames: only well-formed, unused names can be registered.
func TestAddServiceNames(t *testing.T) {
	tests := []struct {
		name string
		svc  string
		want codes.Code
	}{
		{"lowercase", "billing", codes.OK},
		{"digits and hyphen", "a1-b2", codes.OK},
		{"63 chars", "a" + strings.Repeat("b", 62), codes.OK},
		{"empty", "", codes.InvalidArgument},
		{"uppercase", "Billing", codes.InvalidArgument},
		{"user id shape", "u_x", codes.InvalidArgument},
		{"64 chars", "a" + strings.Repeat("b", 63), codes.InvalidArgument},
		{"space", "bill ing", codes.InvalidArgument},
		{"leading digit", "1billing", codes.InvalidArgument},
		{"leading hyphen", "-billing", codes.InvalidArgument},
		{"stepup's audience", "stepup", codes.InvalidArgument},
		{"duplicate", "taken", codes.AlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.addService("taken")
			resp, err := h.admin.AddService(h.ctx(), &stepupv1.AddServiceRequest{Name: tc.svc})
			if tc.want != codes.OK {
				wantCode(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("AddService(%q): %v", tc.svc, err)
			}
			if !strings.HasPrefix(resp.GetSecret(), secretPrefix) {
				t.Fatalf("secret %q lacks prefix %q", resp.GetSecret(), secretPrefix)
			}
		})
	}
}

// TestServiceSecretShownOnce: the secret comes back from AddService and never again.
func TestServiceSecretShownOnce(t *testing.T) {
	h := newHarness(t)
	secret := h.addService("billing")
	h.serviceToken("billing", secret, "")

	list, err := h.admin.ListServices(h.ctx(), &stepupv1.ListServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetServices()) != 1 || list.GetServices()[0].GetName() != "billing" ||
		!list.GetServices()[0].GetHasSecret() {
		t.Fatalf("ListServices = %v, want billing with a secret", list)
	}
	raw, err := proto.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, hashSecret(secret)) {
		t.Fatalf("ListServices leaks the secret or its hash: %s", prototext.Format(list))
	}
}

// TestRotateServiceSecret: the old secret stops working at once; the new one works.
func TestRotateServiceSecret(t *testing.T) {
	h := newHarness(t)
	old := h.addService("billing")
	resp, err := h.admin.RotateServiceSecret(h.ctx(), &stepupv1.RotateServiceSecretRequest{Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSecret() == old || !strings.HasPrefix(resp.GetSecret(), secretPrefix) {
		t.Fatalf("rotated secret %q: want a new %q secret", resp.GetSecret(), secretPrefix)
	}

	_, err = h.issueWithSecret("billing", old, "")
	wantCode(t, err, codes.Unauthenticated)
	h.serviceToken("billing", resp.GetSecret(), "")

	_, err = h.admin.RotateServiceSecret(h.ctx(), &stepupv1.RotateServiceSecretRequest{Name: "nobody"})
	wantCode(t, err, codes.NotFound)
}

// TestRemoveService: a removed service gets no new tokens, and the ones it holds stop
// validating, for stepup's audience and for another service's.
func TestRemoveService(t *testing.T) {
	h := newHarness(t)
	secret := h.addService("api")
	h.addService("billing")
	own := h.serviceToken("api", secret, "")
	forBilling := h.serviceToken("api", secret, "billing")
	if r := h.reasonFor(own, ""); r != reasonOK {
		t.Fatalf("before removal: own token %v", r)
	}
	if r := h.reasonFor(forBilling, "billing"); r != reasonOK {
		t.Fatalf("before removal: billing token %v", r)
	}

	if _, err := h.admin.RemoveService(h.ctx(), &stepupv1.RemoveServiceRequest{Name: "api"}); err != nil {
		t.Fatal(err)
	}

	_, err := h.issueWithSecret("api", secret, "")
	wantCode(t, err, codes.Unauthenticated)
	if r := h.reasonFor(own, ""); r != reasonRevoked {
		t.Errorf("after removal: own token %v, want REVOKED", r)
	}
	if r := h.reasonFor(forBilling, "billing"); r != reasonRevoked {
		t.Errorf("after removal: billing token %v, want REVOKED", r)
	}
}

// TestRemovedServiceNotFound: admin calls on a name that is not registered, or no
// longer, answer NOT_FOUND.
func TestRemovedServiceNotFound(t *testing.T) {
	remove := func(h *harness, name string) error {
		_, err := h.admin.RemoveService(h.ctx(), &stepupv1.RemoveServiceRequest{Name: name})
		return err
	}
	rotate := func(h *harness, name string) error {
		_, err := h.admin.RotateServiceSecret(h.ctx(), &stepupv1.RotateServiceSecretRequest{Name: name})
		return err
	}
	tests := []struct {
		name string
		call func(h *harness, name string) error
		svc  string
		want codes.Code
	}{
		{"remove unknown", remove, "ghost", codes.NotFound},
		{"rotate unknown", rotate, "ghost", codes.NotFound},
		{"remove removed", remove, "gone", codes.NotFound},
		{"rotate removed", rotate, "gone", codes.NotFound},
		{"rotate live", rotate, "live", codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.addService("live")
			h.addService("gone")
			if err := remove(h, "gone"); err != nil {
				t.Fatal(err)
			}
			wantCode(t, tc.call(h, tc.svc), tc.want)
		})
	}
}

// TestReAddedServiceDoesNotRevive: registering a removed name again does not make the
// old registration's tokens valid.
func TestReAddedServiceDoesNotRevive(t *testing.T) {
	for _, gap := range []time.Duration{0, time.Second} {
		t.Run(gap.String(), func(t *testing.T) {
			h := newHarness(t)
			old := h.serviceToken("api", h.addService("api"), "")
			if _, err := h.admin.RemoveService(h.ctx(), &stepupv1.RemoveServiceRequest{Name: "api"}); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(gap)
			if gap < time.Second {
				// iat has whole seconds: the name cannot come back within the second.
				_, err := h.admin.AddService(h.ctx(), &stepupv1.AddServiceRequest{Name: "api"})
				wantCode(t, err, codes.FailedPrecondition)
				h.clock.Advance(time.Second)
			}
			h.addService("api")
			if r := h.reasonFor(old, ""); r == reasonOK {
				t.Fatalf("token of the removed registration validates after re-adding the name")
			}
		})
	}
}

// TestIssueServiceTokenClaims: a service token names the service as sub and client_id,
// carries no user claims, and lives serviceTokenTTL.
func TestIssueServiceTokenClaims(t *testing.T) {
	h := newHarness(t)
	resp, err := h.issueWithSecret("billing", h.addService("billing"), "")
	if err != nil {
		t.Fatal(err)
	}
	c := h.claimsOf(resp.GetAccessToken())
	if c.Subject != "billing" || c.ClientID != "billing" {
		t.Errorf("sub %q client_id %q, want billing", c.Subject, c.ClientID)
	}
	if c.SessionID != "" || c.ACR != "" || len(c.AMR) != 0 || !c.AuthTime.IsZero() || len(c.Actor) != 0 {
		t.Errorf("service token has user claims: sid %q acr %q amr %v auth_time %v act %v",
			c.SessionID, c.ACR, c.AMR, c.AuthTime, c.Actor)
	}
	if got := c.Expiry.Sub(c.IssuedAt); got != serviceTokenTTL {
		t.Errorf("exp - iat = %v, want %v", got, serviceTokenTTL)
	}
	if !resp.GetExpiresAt().AsTime().Equal(c.Expiry) {
		t.Errorf("expires_at %v, exp %v", resp.GetExpiresAt().AsTime(), c.Expiry)
	}
	if len(c.Audience) != 1 || c.Audience[0] != "stepup" {
		t.Errorf("aud %v, want [stepup]", c.Audience)
	}
}

// TestIssueServiceTokenBadSecret: an unknown service, a wrong secret and an empty one
// get the same status, byte for byte, so the answer does not say which names exist.
func TestIssueServiceTokenBadSecret(t *testing.T) {
	h := newHarness(t)
	secret := h.addService("billing")
	tests := []struct {
		name, svc, secret string
	}{
		{"wrong secret", "billing", secret + "x"},
		{"other service's secret shape", "billing", secretPrefix + strings.Repeat("A", 43)},
		{"unknown service", "nobody", secret},
		{"empty secret", "billing", ""},
		{"empty service", "", secret},
		{"malformed service", "U_X", secret},
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(status.Convert(errBadServiceCredential).Proto())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.issueWithSecret(tc.svc, tc.secret, "")
			st := wantCode(t, err, codes.Unauthenticated)
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(st.Proto())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("status %v differs from %v", st.Proto(), status.Convert(errBadServiceCredential).Proto())
			}
		})
	}
	_, err = h.auth.IssueServiceToken(h.ctx(), &stepupv1.IssueServiceTokenRequest{Service: "billing"})
	wantCode(t, err, codes.InvalidArgument)
}

// signRawAssertion signs any assertion payload, for assertions SignAssertion refuses
// to make.
func signRawAssertion(t *testing.T, k *token.PrivateKey, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(token.AssertionType).WithHeader("kid", k.ID)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: k.Signer}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := js.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestIssueServiceTokenAssertion: an RFC 7523 assertion gets a token once, and only when
// it is fresh, addressed to stepup, self-issued, and signed by the service's own key.
func TestIssueServiceTokenAssertion(t *testing.T) {
	sign := func(h *harness, k *token.PrivateKey, svc, aud, jti string, now time.Time) string {
		h.t.Helper()
		a, err := token.SignAssertion(k, svc, aud, jti, now, time.Minute)
		if err != nil {
			h.t.Fatal(err)
		}
		return a
	}
	type keys struct{ jobs, api *token.PrivateKey }
	tests := []struct {
		name      string
		svc       string // the request's service field
		assertion func(h *harness, k keys) string
		want      codes.Code
	}{
		{"valid", "jobs", func(h *harness, k keys) string {
			return sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
		}, codes.OK},
		{"valid, service field empty", "", func(h *harness, k keys) string {
			return sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
		}, codes.OK},
		{"replayed jti", "jobs", func(h *harness, k keys) string {
			a := sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
			if err := h.issueWithAssertion("jobs", a); err != nil {
				h.t.Fatalf("first use: %v", err)
			}
			h.clock.Advance(time.Second)
			return sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"same assertion twice", "jobs", func(h *harness, k keys) string {
			a := sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
			if err := h.issueWithAssertion("jobs", a); err != nil {
				h.t.Fatalf("first use: %v", err)
			}
			return a
		}, codes.Unauthenticated},
		{"expired", "jobs", func(h *harness, k keys) string {
			return sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now().Add(-2*time.Minute))
		}, codes.Unauthenticated},
		{"wrong aud", "jobs", func(h *harness, k keys) string {
			return sign(h, k.jobs, "jobs", "elsewhere", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"iss is not sub", "jobs", func(h *harness, k keys) string {
			now := h.clock.Now().Unix()
			return signRawAssertion(h.t, k.jobs, map[string]any{"iss": "jobs", "sub": "api",
				"aud": "stepup", "iat": now, "exp": now + 60, "jti": "j1"})
		}, codes.Unauthenticated},
		{"signed by another key", "jobs", func(h *harness, _ keys) string {
			return sign(h, newAssertionKey(h.t), "jobs", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"another key under jobs' kid", "jobs", func(h *harness, k keys) string {
			other := newAssertionKey(h.t)
			other.ID = k.jobs.ID
			return sign(h, other, "jobs", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"service field names another service", "api", func(h *harness, k keys) string {
			return sign(h, k.jobs, "jobs", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"service registered without a key", "api", func(h *harness, k keys) string {
			return sign(h, k.api, "api", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
		{"unknown service", "ghost", func(h *harness, k keys) string {
			return sign(h, k.jobs, "ghost", "stepup", "j1", h.clock.Now())
		}, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			k := keys{jobs: h.addKeyService("jobs"), api: newAssertionKey(t)}
			h.addService("api")
			err := h.issueWithAssertion(tc.svc, tc.assertion(h, k))
			if tc.want == codes.OK {
				if err != nil {
					t.Fatalf("IssueServiceToken: %v", err)
				}
				return
			}
			st := wantCode(t, err, tc.want)
			if st.Message() != status.Convert(errBadServiceCredential).Message() {
				t.Fatalf("message %q tells the failures apart", st.Message())
			}
		})
	}
}

// exchangeSetup is a user logged in and three services holding tokens of their own.
type exchangeSetup struct {
	h       *harness
	user    string // the user's login token, aud stepup
	tokens  map[string]string
	secrets map[string]string
}

func newExchangeSetup(t *testing.T) *exchangeSetup {
	h := newHarness(t)
	h.createUser("alice")
	e := &exchangeSetup{h: h, tokens: map[string]string{}, secrets: map[string]string{}}
	for _, name := range []string{"api", "billing", "ledger"} {
		e.secrets[name] = h.addService(name)
		e.tokens[name] = h.serviceToken(name, e.secrets[name], "")
	}
	e.user = h.login("alice").GetAccessToken()
	return e
}

// mustExchange exchanges subject as caller for aud and returns the new token.
func (e *exchangeSetup) mustExchange(caller, subject, aud string) string {
	e.h.t.Helper()
	resp, err := e.h.exchange(e.tokens[caller], subject, aud)
	if err != nil {
		e.h.t.Fatalf("ExchangeToken(%s -> %s): %v", caller, aud, err)
	}
	if resp.GetIssuedTokenType() != TokenTypeAccessToken {
		e.h.t.Errorf("issued_token_type %q", resp.GetIssuedTokenType())
	}
	return resp.GetAccessToken()
}

// TestExchangeTokenClaims: the exchanged token keeps the user's session and assurance,
// is for the requested audience, names the caller as client and actor, and does not
// outlive the subject token.
func TestExchangeTokenClaims(t *testing.T) {
	e := newExchangeSetup(t)
	subject := e.h.claimsOf(e.user)
	e.h.clock.Advance(5 * time.Minute) // so now + AccessTokenTTL passes the subject's exp

	tok := e.mustExchange("api", e.user, "billing")
	c := e.h.claimsFor(tok, "billing")
	if c.Subject != subject.Subject || c.SessionID != subject.SessionID || c.ACR != subject.ACR ||
		!c.AuthTime.Equal(subject.AuthTime) || strings.Join(c.AMR, ",") != strings.Join(subject.AMR, ",") {
		t.Errorf("exchanged sub/sid/acr/auth_time/amr = %q/%q/%q/%v/%v, want %q/%q/%q/%v/%v",
			c.Subject, c.SessionID, c.ACR, c.AuthTime, c.AMR,
			subject.Subject, subject.SessionID, subject.ACR, subject.AuthTime, subject.AMR)
	}
	if len(c.Audience) != 1 || c.Audience[0] != "billing" {
		t.Errorf("aud %v, want [billing]", c.Audience)
	}
	if c.ClientID != "api" || strings.Join(c.Actor, ",") != "api" {
		t.Errorf("client_id %q act %v, want api and [api]", c.ClientID, c.Actor)
	}
	if !c.Expiry.Equal(subject.Expiry) {
		t.Errorf("exp %v, want the subject's %v", c.Expiry, subject.Expiry)
	}
	if r := e.h.reasonFor(tok, "billing"); r != reasonOK {
		t.Errorf("exchanged token for billing: %v", r)
	}
}

// TestExchangeTokenNests: exchanging an exchanged token puts the new caller first in act.
func TestExchangeTokenNests(t *testing.T) {
	e := newExchangeSetup(t)
	first := e.mustExchange("api", e.user, "billing")
	second := e.mustExchange("billing", first, "ledger")

	c := e.h.claimsFor(second, "ledger")
	if c.ClientID != "billing" || strings.Join(c.Actor, ",") != "billing,api" {
		t.Fatalf("client_id %q act %v, want billing and [billing api]", c.ClientID, c.Actor)
	}
	resp, err := e.h.auth.ValidateToken(e.h.ctx(), &stepupv1.ValidateTokenRequest{Token: second, Audience: "ledger"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetValid() || strings.Join(resp.GetActor(), ",") != "billing,api" {
		t.Fatalf("ValidateToken: valid %v actor %v", resp.GetValid(), resp.GetActor())
	}
}

// TestExchangeTokenRefusals: who may exchange, what, and for whom.
func TestExchangeTokenRefusals(t *testing.T) {
	tests := []struct {
		name    string
		caller  func(e *exchangeSetup) string
		subject func(e *exchangeSetup) string
		aud     string
		want    codes.Code
	}{
		{"user token as caller", func(e *exchangeSetup) string { return e.user },
			func(e *exchangeSetup) string { return e.user }, "billing", codes.PermissionDenied},
		{"no caller token", func(*exchangeSetup) string { return "" },
			func(e *exchangeSetup) string { return e.user }, "billing", codes.Unauthenticated},
		{"unregistered audience", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(e *exchangeSetup) string { return e.user }, "ghost", codes.InvalidArgument},
		{"stepup's audience", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(e *exchangeSetup) string { return e.user }, "stepup", codes.InvalidArgument},
		{"service token as subject", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(e *exchangeSetup) string { return e.tokens["billing"] }, "ledger", codes.InvalidArgument},
		{"subject minted for another service", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(e *exchangeSetup) string { return e.mustExchange("billing", e.user, "ledger") },
			"billing", codes.InvalidArgument},
		{"garbage subject", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(*exchangeSetup) string { return "garbage" }, "billing", codes.InvalidArgument},
		{"ended session", func(e *exchangeSetup) string { return e.tokens["api"] },
			func(e *exchangeSetup) string {
				if _, err := e.h.auth.Logout(e.h.bearer(e.user), &stepupv1.LogoutRequest{}); err != nil {
					e.h.t.Fatal(err)
				}
				return e.user
			}, "billing", codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newExchangeSetup(t)
			subject := tc.subject(e)
			caller := tc.caller(e)
			req := &stepupv1.ExchangeTokenRequest{SubjectToken: subject, Audience: tc.aud}
			ctx := e.h.ctx()
			if caller != "" {
				ctx = e.h.bearer(caller)
			}
			_, err := e.h.auth.ExchangeToken(ctx, req)
			wantCode(t, err, tc.want)
		})
	}
}

// TestServiceTokenOnUserMethod: a service token is no user token.
func TestServiceTokenOnUserMethod(t *testing.T) {
	e := newExchangeSetup(t)
	_, err := e.h.auth.Logout(e.h.bearer(e.tokens["api"]), &stepupv1.LogoutRequest{})
	wantCode(t, err, codes.PermissionDenied)
}

// TestExchangedTokenFollowsRevocation: ending the session, or removing a service in the
// act chain, stops tokens exchanged before.
func TestExchangedTokenFollowsRevocation(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(e *exchangeSetup) error
	}{
		{"logout", func(e *exchangeSetup) error {
			_, err := e.h.auth.Logout(e.h.bearer(e.user), &stepupv1.LogoutRequest{})
			return err
		}},
		{"actor removed", func(e *exchangeSetup) error {
			_, err := e.h.admin.RemoveService(e.h.ctx(), &stepupv1.RemoveServiceRequest{Name: "api"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newExchangeSetup(t)
			tok := e.mustExchange("api", e.user, "billing")
			nested := e.mustExchange("billing", tok, "ledger")
			if err := tc.revoke(e); err != nil {
				t.Fatal(err)
			}
			if r := e.h.reasonFor(tok, "billing"); r != reasonRevoked {
				t.Errorf("exchanged token: %v, want REVOKED", r)
			}
			if r := e.h.reasonFor(nested, "ledger"); r != reasonRevoked {
				t.Errorf("nested token: %v, want REVOKED", r)
			}
		})
	}
}
