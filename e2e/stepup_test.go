package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server"
)

func serverConfig(c *clock) server.Config { return server.Config{Now: c.Now} }

func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

const (
	alicePassword = "correct horse battery staple"
	reasonOK      = stepupv1.ValidationReason_VALIDATION_REASON_OK
)

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != want {
		t.Fatalf("got %v (%q), want %v", st.Code(), st.Message(), want)
	}
	return st
}

// TestStepUpJourney walks the path a user takes: create, log in, enroll TOTP, step up,
// validate, use a recovery code, and the ways each step refuses a replay.
func TestStepUpJourney(t *testing.T) {
	e := start(t)
	aliceID := e.createUser("alice", alicePassword)

	login := e.login("alice", alicePassword)
	if len(login.GetFactors()) != 0 {
		t.Fatalf("new user has factors %v", login.GetFactors())
	}
	aal1 := login.GetAccessToken()
	v := e.validate(aal1, "", 0)
	if !v.GetValid() || v.GetClaims().GetSubject() != aliceID || v.GetClaims().GetAcr() != "aal1" ||
		!slices.Equal(v.GetClaims().GetAmr(), []string{"pwd"}) {
		t.Fatalf("aal1 token: %v", v)
	}
	if got := e.validate(aal1, "aal2", 0).GetReason(); got != stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR {
		t.Fatalf("aal1 token against aal2: reason %v", got)
	}

	secret := e.enrollTOTP(aal1)
	e.clock.Advance(30 * time.Second) // the confirmation used this step

	// With a factor enrolled, a password-only token cannot change the password.
	_, err := e.account.ChangePassword(bearer(t, aal1), &stepupv1.ChangePasswordRequest{
		CurrentPassword: alicePassword, NewPassword: "another long password"})
	wantStepUpError(t, err, "aal2", "300")

	code := e.code(secret)
	stepped, err := e.stepUp(aal1, stepupv1.Factor_FACTOR_TOTP, code)
	if err != nil {
		t.Fatalf("step up with TOTP: %v", err)
	}
	aal2 := stepped.GetAccessToken()
	v = e.validate(aal2, "aal2", 5*time.Minute)
	if !v.GetValid() {
		t.Fatalf("aal2 token invalid: %v", v.GetReason())
	}
	c := v.GetClaims()
	if c.GetAcr() != "aal2" || !slices.Equal(c.GetAmr(), []string{"pwd", "otp", "mfa"}) ||
		c.GetSessionId() != e.validate(aal1, "", 0).GetClaims().GetSessionId() ||
		!c.GetAuthTime().AsTime().Equal(e.clock.Now()) || c.GetTokenId() == "" {
		t.Fatalf("aal2 claims: %v", c)
	}
	if !c.GetExpiresAt().AsTime().Before(login.GetExpiresAt().AsTime()) {
		t.Fatalf("aal2 token lives as long as the aal1 token")
	}

	// The same TOTP step never works twice, not even in a new challenge of a new session.
	other := e.login("alice", alicePassword).GetAccessToken()
	_, err = e.stepUp(other, stepupv1.Factor_FACTOR_TOTP, code)
	wantCode(t, err, codes.Unauthenticated)

	// Recovery codes: creating them now needs the step-up, which we have.
	if _, err := e.account.CreateRecoveryCodes(bearer(t, aal1), &stepupv1.CreateRecoveryCodesRequest{}); err == nil {
		t.Fatal("aal1 token created recovery codes while TOTP is enrolled")
	}
	rc, err := e.account.CreateRecoveryCodes(bearer(t, aal2), &stepupv1.CreateRecoveryCodesRequest{})
	if err != nil || len(rc.GetCodes()) != 10 {
		t.Fatalf("CreateRecoveryCodes: %v (%d codes)", err, len(rc.GetCodes()))
	}
	byCode, err := e.stepUp(other, stepupv1.Factor_FACTOR_RECOVERY_CODE, rc.GetCodes()[3])
	if err != nil {
		t.Fatalf("step up with a recovery code: %v", err)
	}
	if amr := e.validate(byCode.GetAccessToken(), "aal2", 0).GetClaims().GetAmr(); !slices.Contains(amr, "rcode") {
		t.Fatalf("recovery-code amr %v", amr)
	}
	_, err = e.stepUp(other, stepupv1.Factor_FACTOR_RECOVERY_CODE, rc.GetCodes()[3])
	wantCode(t, err, codes.Unauthenticated)
	factors, err := e.account.ListFactors(bearer(t, aal1), &stepupv1.ListFactorsRequest{})
	if err != nil || len(factors.GetFactors()) != 2 || factors.GetFactors()[1].GetRemaining() != 9 {
		t.Fatalf("ListFactors: %v %v", factors, err)
	}

	// A step-up older than max_age no longer satisfies a sensitive call.
	e.clock.Advance(5*time.Minute + time.Second)
	if got := e.validate(aal2, "aal2", 5*time.Minute).GetReason(); got != stepupv1.ValidationReason_VALIDATION_REASON_EXPIRED &&
		got != stepupv1.ValidationReason_VALIDATION_REASON_AUTH_TOO_OLD {
		t.Fatalf("old step-up: reason %v", got)
	}
}

// wantStepUpError checks the RFC 9470-style step-up error.
func wantStepUpError(t *testing.T, err error, acr, maxAge string) {
	t.Helper()
	st := wantCode(t, err, codes.Unauthenticated)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "INSUFFICIENT_USER_AUTHENTICATION" {
			if info.GetMetadata()["acr_values"] != acr || info.GetMetadata()["max_age"] != maxAge {
				t.Fatalf("ErrorInfo metadata %v, want acr_values=%s max_age=%s", info.GetMetadata(), acr, maxAge)
			}
			return
		}
	}
	t.Fatalf("no INSUFFICIENT_USER_AUTHENTICATION ErrorInfo in %v", st.Details())
}

// TestWrongCodes: a challenge burns after five wrong codes, and failures counted across
// challenges lock the user's second factor with RESOURCE_EXHAUSTED.
func TestWrongCodes(t *testing.T) {
	e := start(t)
	e.createUser("bob", alicePassword)
	tok := e.login("bob", alicePassword).GetAccessToken()
	secret := e.enrollTOTP(tok)
	e.clock.Advance(30 * time.Second)

	ch, err := e.auth.ChallengeSecondFactor(bearer(t, tok), &stepupv1.ChallengeSecondFactorRequest{
		Factor: stepupv1.Factor_FACTOR_TOTP})
	if err != nil {
		t.Fatal(err)
	}
	wrong := wrongCode(e.code(secret))
	for i := range 5 {
		_, err := e.auth.VerifySecondFactor(bearer(t, tok), &stepupv1.VerifySecondFactorRequest{
			ChallengeId: ch.GetChallengeId(), Code: wrong})
		if i < 4 {
			wantCode(t, err, codes.Unauthenticated)
		}
	}
	// Burned: even the right code now gets the unknown-challenge answer, or the lockout.
	_, err = e.auth.VerifySecondFactor(bearer(t, tok), &stepupv1.VerifySecondFactorRequest{
		ChallengeId: ch.GetChallengeId(), Code: e.code(secret)})
	if st, _ := status.FromError(err); st.Code() != codes.NotFound && st.Code() != codes.ResourceExhausted {
		t.Fatalf("burned challenge: %v", err)
	}
	// Five consecutive failures put the user in back-off, across challenges.
	_, err = e.auth.ChallengeSecondFactor(bearer(t, tok), &stepupv1.ChallengeSecondFactorRequest{
		Factor: stepupv1.Factor_FACTOR_TOTP})
	wantCode(t, err, codes.ResourceExhausted)
	user, err := e.admin.GetUser(ctx(t), &stepupv1.GetUserRequest{User: &stepupv1.UserRef{
		Ref: &stepupv1.UserRef_Username{Username: "bob"}}})
	if err != nil || user.GetUser().GetSecondFactorFailures() != 5 {
		t.Fatalf("GetUser: %v %v", user, err)
	}
	// After the back-off, the right code works and resets the count.
	e.clock.Advance(2 * time.Minute)
	if _, err := e.stepUp(tok, stepupv1.Factor_FACTOR_TOTP, e.code(secret)); err != nil {
		t.Fatalf("step up after back-off: %v", err)
	}
}

func wrongCode(right string) string {
	b := []byte(right)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// TestForeignChallenge: another user's challenge id gets the same answer as an unknown
// one, and does not consume it.
func TestForeignChallenge(t *testing.T) {
	e := start(t)
	e.createUser("alice", alicePassword)
	e.createUser("mallory", alicePassword)
	alice := e.login("alice", alicePassword).GetAccessToken()
	mallory := e.login("mallory", alicePassword).GetAccessToken()
	secret := e.enrollTOTP(alice)
	e.enrollTOTP(mallory)
	e.clock.Advance(30 * time.Second)
	ch, err := e.auth.ChallengeSecondFactor(bearer(t, alice), &stepupv1.ChallengeSecondFactorRequest{
		Factor: stepupv1.Factor_FACTOR_TOTP})
	if err != nil {
		t.Fatal(err)
	}
	_, foreign := e.auth.VerifySecondFactor(bearer(t, mallory), &stepupv1.VerifySecondFactorRequest{
		ChallengeId: ch.GetChallengeId(), Code: e.code(secret)})
	_, unknown := e.auth.VerifySecondFactor(bearer(t, mallory), &stepupv1.VerifySecondFactorRequest{
		ChallengeId: "ch_doesnotexist", Code: e.code(secret)})
	if foreign.Error() != unknown.Error() {
		t.Fatalf("foreign %q differs from unknown %q", foreign, unknown)
	}
	if _, err := e.auth.VerifySecondFactor(bearer(t, alice), &stepupv1.VerifySecondFactorRequest{
		ChallengeId: ch.GetChallengeId(), Code: e.code(secret)}); err != nil {
		t.Fatalf("owner's verify after a foreign attempt: %v", err)
	}
}

// TestRevocation: revoked users, disabled users, logout and refresh-token reuse.
func TestRevocation(t *testing.T) {
	e := start(t)
	id := e.createUser("carol", alicePassword)
	ref := &stepupv1.UserRef{Ref: &stepupv1.UserRef_UserId{UserId: id}}
	login := e.login("carol", alicePassword)
	tok := login.GetAccessToken()

	// Refresh rotates; a reused refresh token ends the session.
	r1, err := e.auth.RefreshToken(ctx(t), &stepupv1.RefreshTokenRequest{RefreshToken: login.GetRefreshToken()})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if got := e.validate(r1.GetAccessToken(), "", 0); !got.GetValid() || got.GetClaims().GetAcr() != "aal1" {
		t.Fatalf("refreshed token: %v", got)
	}
	_, err = e.auth.RefreshToken(ctx(t), &stepupv1.RefreshTokenRequest{RefreshToken: login.GetRefreshToken()})
	wantCode(t, err, codes.Unauthenticated)
	for _, tk := range []string{tok, r1.GetAccessToken()} {
		if got := e.validate(tk, "", 0).GetReason(); got != stepupv1.ValidationReason_VALIDATION_REASON_REVOKED {
			t.Fatalf("token of a session ended by refresh reuse: %v", got)
		}
	}
	_, err = e.auth.RefreshToken(ctx(t), &stepupv1.RefreshTokenRequest{RefreshToken: r1.GetRefreshToken()})
	wantCode(t, err, codes.Unauthenticated)

	// Logout ends only that session.
	a, b := e.login("carol", alicePassword).GetAccessToken(), e.login("carol", alicePassword).GetAccessToken()
	if _, err := e.auth.Logout(bearer(t, a), &stepupv1.LogoutRequest{}); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if e.validate(a, "", 0).GetValid() || !e.validate(b, "", 0).GetValid() {
		t.Fatal("logout ended the wrong sessions")
	}

	// Revocation: every token issued so far stops validating; new logins work.
	e.clock.Advance(time.Second)
	if _, err := e.admin.RevokeUserTokens(ctx(t), &stepupv1.RevokeUserTokensRequest{User: ref}); err != nil {
		t.Fatal(err)
	}
	if got := e.validate(b, "", 0).GetReason(); got != stepupv1.ValidationReason_VALIDATION_REASON_REVOKED {
		t.Fatalf("revoked token: %v", got)
	}
	fresh := e.login("carol", alicePassword).GetAccessToken()
	if !e.validate(fresh, "", 0).GetValid() {
		t.Fatal("token issued after revocation is invalid")
	}

	// Disabled: tokens stop validating and login answers like a wrong password.
	if _, err := e.admin.DisableUser(ctx(t), &stepupv1.DisableUserRequest{User: ref}); err != nil {
		t.Fatal(err)
	}
	if got := e.validate(fresh, "", 0).GetReason(); got != stepupv1.ValidationReason_VALIDATION_REASON_USER_DISABLED {
		t.Fatalf("disabled user's token: %v", got)
	}
	_, disabled := e.auth.Login(ctx(t), &stepupv1.LoginRequest{Username: "carol", Password: alicePassword})
	_, wrong := e.auth.Login(ctx(t), &stepupv1.LoginRequest{Username: "carol", Password: "wrong password"})
	_, unknown := e.auth.Login(ctx(t), &stepupv1.LoginRequest{Username: "nobody", Password: alicePassword})
	if disabled.Error() != wrong.Error() || wrong.Error() != unknown.Error() {
		t.Fatalf("login answers differ: %q / %q / %q", disabled, wrong, unknown)
	}
	if _, err := e.admin.EnableUser(ctx(t), &stepupv1.EnableUserRequest{User: ref}); err != nil {
		t.Fatal(err)
	}
	if !e.validate(fresh, "", 0).GetValid() {
		t.Fatal("token invalid after EnableUser")
	}
}

// TestRestartKeepsState: users, factors and the signing key survive a restart on the
// same data directory, and a second server on that directory fails fast.
func TestRestartKeepsState(t *testing.T) {
	e := start(t)
	e.createUser("dave", alicePassword)
	tok := e.login("dave", alicePassword).GetAccessToken()

	begin := time.Now()
	_, err := startSecond(e)
	if err == nil || !strings.Contains(err.Error(), "another stepupd") {
		t.Fatalf("second server on the same data dir: %v", err)
	}
	if time.Since(begin) > 10*time.Second {
		t.Fatalf("second server took %v to fail", time.Since(begin))
	}

	e.stop()
	e.boot()
	if !e.validate(tok, "", 0).GetValid() {
		t.Fatal("token from before the restart no longer validates")
	}
	e.login("dave", alicePassword)
}

// TestReflectionAndHealth: operators can reach both listeners with grpcurl.
func TestReflectionAndHealth(t *testing.T) {
	e := start(t)
	for _, conn := range []*grpcClientConn{e.public, adminConn(e)} {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v %v", resp, err)
		}
		services := listServices(t, conn)
		if len(services) < 3 {
			t.Fatalf("reflection lists %v", services)
		}
	}
}
