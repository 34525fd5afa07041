package server

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// TestSecretsStayOutOfLogsAndErrors runs the flows that handle secrets, right and wrong,
// with debug logging on, and then looks for every secret in the log and in every error
// returned (message and details).
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	h := newHarness(t)
	const (
		wrongPassword = "Tr0ub4dor&3-wrong"
		weakPassword  = "tiny7"
		changed       = "an entirely different passphrase"
	)
	secrets := []string{testPassword, wrongPassword, weakPassword, changed}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	id := h.createUser("alice")
	_, err := h.admin.CreateUser(h.ctx(), &stepupv1.CreateUserRequest{Username: "bob", Password: weakPassword})
	keep(err)
	keep(h.tryLogin(h.clients, "alice", wrongPassword))
	keep(h.tryLogin(h.clients, "nobody", testPassword))
	login := h.login("alice")
	tok := login.GetAccessToken()
	secrets = append(secrets, tok, login.GetRefreshToken(), signature(tok))

	begin, err := h.account.BeginTotpEnrollment(h.bearer(tok), &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secret := begin.GetSecret()
	secrets = append(secrets, secret, begin.GetOtpauthUri())
	keep(h.confirmTOTP(tok, wrongCode(h.code(secret))))
	if err := h.confirmTOTP(tok, h.code(secret)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Second)

	_, err = h.verify(tok, h.challenge(tok, totpFactor), wrongCode(h.code(secret)))
	keep(err)
	aal2 := h.stepUp(tok, secret)
	secrets = append(secrets, aal2, signature(aal2))
	rc, err := h.account.CreateRecoveryCodes(h.bearer(aal2), &stepupv1.CreateRecoveryCodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rc.GetCodes()...)
	recovery := stepupv1.Factor_FACTOR_RECOVERY_CODE
	_, err = h.verify(tok, h.challenge(tok, recovery), "0000-0000-0000")
	keep(err)
	if _, err := h.verify(tok, h.challenge(tok, recovery), rc.GetCodes()[0]); err != nil {
		t.Fatal(err)
	}
	_, err = h.verify(tok, h.challenge(tok, recovery), rc.GetCodes()[0]) // spent
	keep(err)

	keep(h.changePassword(aal2, wrongPassword, changed))
	keep(h.changePassword(aal2, testPassword, weakPassword))
	if err := h.changePassword(aal2, testPassword, changed); err != nil {
		t.Fatal(err)
	}

	r, err := h.refresh(login.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, r.GetRefreshToken(), r.GetAccessToken())
	_, err = h.refresh(login.GetRefreshToken()) // reuse ends the session
	keep(err)
	_, err = h.account.ListFactors(h.bearer(r.GetAccessToken()), &stepupv1.ListFactorsRequest{})
	keep(err)
	_, err = h.account.ListFactors(h.bearer(tok[:len(tok)-4]+"AAAA"), &stepupv1.ListFactorsRequest{})
	keep(err)
	h.validate(tok, "aal2", nil)
	_, err = h.admin.DisableUser(h.ctx(), &stepupv1.DisableUserRequest{User: userRef(id)})
	keep(err)

	logs := h.logs.String()
	expected := []string{"login failed", "second factor rejected", "rejected access token", "refresh token reused"}
	for _, want := range expected {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q: the flow did not run as intended", want)
		}
	}
	if len(errs) < 10 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains secret %.12q...", s)
		}
		for _, err := range errs {
			if text := status.Convert(err).Proto().String(); strings.Contains(text, s) {
				t.Errorf("error %v contains secret %.12q...", err, s)
			}
		}
	}
}

// signature is the signature segment of a token, enough to replay it with the rest.
func signature(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }
