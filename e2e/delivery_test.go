package e2e

import (
	"bytes"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/server/delivery"
	"github.com/stepup/stepup/server/delivery/deliverytest"
)

// These tests run the real daemon with its email going to a real SMTP server started in
// the test (STARTTLS with a test certificate, AUTH PLAIN) and its SMS going to a local
// HTTP server standing in for the SMS provider. Codes are read from what those servers
// received, as a user would read them from their inbox or phone.

const (
	aliceEmail = "alice@example.com"
	alicePhone = "+14155552671"
)

// deliveryEnv is a daemon wired to the SMTP server and the SMS stand-in.
type deliveryEnv struct {
	*env
	smtp  *deliverytest.SMTPServer
	sms   *deliverytest.SMSProvider
	logs  *logBuffer
	tweak func(*daemon.Options)
}

// startDelivery boots a daemon that sends email over SMTP and SMS to the webhook of the
// stand-in; tweak adjusts the options after that.
func startDelivery(t *testing.T, tweak func(*deliveryEnv, *daemon.Options)) *deliveryEnv {
	t.Helper()
	de := &deliveryEnv{
		env:  &env{t: t, clock: newClock(), dataDir: t.TempDir()},
		smtp: deliverytest.NewSMTPServer(t),
		sms:  deliverytest.NewSMSProvider(t),
		logs: &logBuffer{},
	}
	de.tweak = func(o *daemon.Options) {
		o.Logger = slog.New(slog.NewTextHandler(de.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Email = daemon.EmailDelivery{Via: daemon.ViaSMTP, SMTP: delivery.SMTPConfig{
			Addr: de.smtp.Addr, From: "Acme <no-reply@acme.example>", Username: de.smtp.Username,
			Password: de.smtp.Password, RootCAs: de.smtp.RootCAs(),
		}}
		o.SMS = daemon.SMSDelivery{Via: daemon.ViaWebhook, Webhook: delivery.WebhookConfig{
			URL: de.sms.WebhookURL(), Key: de.sms.Key,
			Retry: delivery.RetryPolicy{Backoff: 10 * time.Millisecond},
		}}
		o.Server.DeliveryTimeout = 2 * time.Second
		if tweak != nil {
			tweak(de, o)
		}
	}
	de.bootWith(de.tweak)
	return de
}

// reboot restarts the daemon on the same data directory and providers.
func (de *deliveryEnv) reboot() {
	de.stop()
	de.bootWith(de.tweak)
}

func (de *deliveryEnv) mailCode(to string) string {
	de.t.Helper()
	de.smtp.WaitMails(de.t, 1)
	code := deliverytest.Code(de.smtp.LastTo(de.t, to).Body())
	if code == "" {
		de.t.Fatalf("no code in the last mail to %s", to)
	}
	return code
}

func (de *deliveryEnv) smsCode(to string) string {
	de.t.Helper()
	code := deliverytest.Code(de.sms.LastTo(de.t, to).Body)
	if code == "" {
		de.t.Fatalf("no code in the last SMS to %s", to)
	}
	return code
}

// addEmail adds and confirms an email address with the code that arrived by SMTP.
func (de *deliveryEnv) addEmail(tok, addr string) {
	de.t.Helper()
	resp, err := de.account.AddEmail(bearer(de.t, tok), &stepupv1.AddEmailRequest{Email: addr})
	if err != nil {
		de.t.Fatalf("AddEmail(%s): %v", addr, err)
	}
	if want := addr[:1] + "***" + addr[strings.IndexByte(addr, '@'):]; resp.GetDestinationHint() != want {
		de.t.Fatalf("hint %q, want %q", resp.GetDestinationHint(), want)
	}
	_, err = de.account.ConfirmEmail(bearer(de.t, tok), &stepupv1.ConfirmEmailRequest{Code: de.mailCode(addr)})
	if err != nil {
		de.t.Fatalf("ConfirmEmail: %v", err)
	}
}

// addPhone adds and confirms a phone number with the code the SMS stand-in received.
func (de *deliveryEnv) addPhone(tok, number string) {
	de.t.Helper()
	resp, err := de.account.AddPhone(bearer(de.t, tok), &stepupv1.AddPhoneRequest{PhoneNumber: number})
	if err != nil {
		de.t.Fatalf("AddPhone(%s): %v", number, err)
	}
	if !strings.HasSuffix(resp.GetDestinationHint(), " *** *** "+number[len(number)-2:]) {
		de.t.Fatalf("hint %q", resp.GetDestinationHint())
	}
	_, err = de.account.ConfirmPhone(bearer(de.t, tok), &stepupv1.ConfirmPhoneRequest{Code: de.smsCode(number)})
	if err != nil {
		de.t.Fatalf("ConfirmPhone: %v", err)
	}
}

func (de *deliveryEnv) challenge(tok string, f stepupv1.Factor) (*stepupv1.ChallengeSecondFactorResponse, error) {
	return de.auth.ChallengeSecondFactor(bearer(de.t, tok), &stepupv1.ChallengeSecondFactorRequest{Factor: f})
}

func (de *deliveryEnv) verify(tok, id, code string) (*stepupv1.VerifySecondFactorResponse, error) {
	return de.auth.VerifySecondFactor(bearer(de.t, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: id, Code: code})
}

// stepUpBy asks for a code by factor, reads it where it arrived, and answers it.
func (de *deliveryEnv) stepUpBy(tok string, f stepupv1.Factor, to string) string {
	de.t.Helper()
	ch, err := de.challenge(tok, f)
	if err != nil {
		de.t.Fatalf("ChallengeSecondFactor(%v): %v", f, err)
	}
	var code string
	if f == stepupv1.Factor_FACTOR_EMAIL {
		code = de.mailCode(to)
	} else {
		code = de.smsCode(to)
	}
	resp, err := de.verify(tok, ch.GetChallengeId(), code)
	if err != nil {
		de.t.Fatalf("VerifySecondFactor(%v): %v", f, err)
	}
	return resp.GetAccessToken()
}

// TestDeliveryJourney: a user adds and confirms an email and a phone, steps up with
// each, replaces the email, and the old address is told.
func TestDeliveryJourney(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()

	// No factor yet: the password alone may add the first address.
	de.addEmail(aal1, aliceEmail)
	login := de.login("alice", alicePassword)
	if !slices.Equal(login.GetFactors(), []stepupv1.Factor{stepupv1.Factor_FACTOR_EMAIL}) {
		t.Fatalf("factors after confirming the email: %v", login.GetFactors())
	}
	mail := de.smtp.LastTo(t, aliceEmail)
	if !mail.TLS || mail.Header("Subject") != "stepup: confirm your email address" {
		t.Fatalf("confirmation mail: tls=%v subject %q", mail.TLS, mail.Header("Subject"))
	}

	// With email as the only factor, adding a phone needs an email step-up.
	_, err := de.account.AddPhone(bearer(t, aal1), &stepupv1.AddPhoneRequest{PhoneNumber: alicePhone})
	wantStepUpError(t, err, "email-otp", "300")
	ch, err := de.challenge(aal1, stepupv1.Factor_FACTOR_EMAIL)
	if err != nil || ch.GetDestinationHint() != "a***@example.com" {
		t.Fatalf("email challenge: %v %v", ch, err)
	}
	stepped, err := de.verify(aal1, ch.GetChallengeId(), de.mailCode(aliceEmail))
	if err != nil {
		t.Fatalf("email step-up: %v", err)
	}
	byEmail := stepped.GetAccessToken()
	claims := de.validate(byEmail, "", 0).GetClaims()
	if claims.GetAcr() != "email-otp" || !slices.Equal(claims.GetAmr(), []string{"pwd", "email", "mfa"}) {
		t.Fatalf("email step-up claims: acr %q amr %v", claims.GetAcr(), claims.GetAmr())
	}
	got := de.validate(byEmail, "aal2", 0).GetReason()
	if got != stepupv1.ValidationReason_VALIDATION_REASON_INSUFFICIENT_ACR {
		t.Fatalf("email step-up against aal2: %v", got)
	}
	de.addPhone(byEmail, alicePhone)

	// The phone gives aal2 with amr sms. Three codes went out this minute, the per-user
	// limit.
	_, err = de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	wantCode(t, err, codes.ResourceExhausted)
	de.clock.Advance(time.Minute)
	bySMS := de.stepUpBy(aal1, stepupv1.Factor_FACTOR_SMS, alicePhone)
	v := de.validate(bySMS, "aal2", 5*time.Minute)
	if !v.GetValid() || !slices.Equal(v.GetClaims().GetAmr(), []string{"pwd", "sms", "mfa"}) {
		t.Fatalf("SMS step-up: %v", v)
	}

	// Replacing the email now needs aal2: the email step-up no longer suffices.
	_, err = de.account.AddEmail(bearer(t, byEmail), &stepupv1.AddEmailRequest{Email: "alice@new.example"})
	wantStepUpError(t, err, "aal2", "300")
	de.addEmail(bySMS, "alice@new.example")
	notice := de.smtp.LastTo(t, aliceEmail)
	if !strings.Contains(notice.Header("Subject"), "no longer receives") ||
		!strings.Contains(notice.Body(), "a***@new.example") || deliverytest.Code(notice.Body()) != "" {
		t.Fatalf("notice to the old address: %q\n%s", notice.Header("Subject"), notice.Body())
	}
	factors, err := de.account.ListFactors(bearer(t, aal1), &stepupv1.ListFactorsRequest{})
	if err != nil || len(factors.GetFactors()) != 2 {
		t.Fatalf("ListFactors: %v %v", factors, err)
	}
	de.clock.Advance(time.Minute)
	if got := de.stepUpBy(aal1, stepupv1.Factor_FACTOR_EMAIL, "alice@new.example"); got == "" {
		t.Fatal("no token from the new address")
	}
	if logs := de.logs.String(); strings.Contains(logs, alicePhone) || strings.Contains(logs, aliceEmail) {
		t.Fatalf("an address reached the log:\n%s", logs)
	}
}

// TestSentCodeRules: a code sent for one challenge works once, only for it, and only
// while its address is current; wrong codes burn the challenge and count towards the
// same per-user lockout as TOTP.
func TestSentCodeRules(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	de.addPhone(aal1, alicePhone)

	de.clock.Advance(time.Minute)
	first, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	if err != nil {
		t.Fatal(err)
	}
	code := de.smsCode(alicePhone)
	if _, err := de.verify(aal1, first.GetChallengeId(), code); err != nil {
		t.Fatalf("right code: %v", err)
	}
	_, err = de.verify(aal1, first.GetChallengeId(), code)
	wantCode(t, err, codes.NotFound)

	// The code of another session's challenge does not work here.
	other := de.login("alice", alicePassword).GetAccessToken()
	_, err = de.verify(other, first.GetChallengeId(), code)
	wantCode(t, err, codes.NotFound)

	// Five wrong codes burn a challenge; the right one then finds nothing.
	de.clock.Advance(time.Minute)
	burned, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	if err != nil {
		t.Fatal(err)
	}
	right := de.smsCode(alicePhone)
	for range 5 {
		_, err := de.verify(aal1, burned.GetChallengeId(), wrongCode(right))
		if c := codeOf(err); c != codes.Unauthenticated && c != codes.ResourceExhausted {
			t.Fatalf("wrong code: %v", err)
		}
	}
	_, err = de.verify(aal1, burned.GetChallengeId(), right)
	if c := codeOf(err); c != codes.NotFound && c != codes.ResourceExhausted {
		t.Fatalf("right code on a burned challenge: %v", err)
	}
	// The five failures put the user in the back-off TOTP uses.
	_, err = de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	wantCode(t, err, codes.ResourceExhausted)
	user, err := de.admin.GetUser(ctx(t), &stepupv1.GetUserRequest{User: &stepupv1.UserRef{
		Ref: &stepupv1.UserRef_Username{Username: "alice"}}})
	if err != nil || user.GetUser().GetSecondFactorFailures() != 5 {
		t.Fatalf("GetUser: %v %v", user, err)
	}

	// A code sent to a number that was replaced since is dead.
	de.clock.Advance(2 * time.Minute)
	stale, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	if err != nil {
		t.Fatal(err)
	}
	staleCode := de.smsCode(alicePhone)
	bySMS, err := de.verify(aal1, stale.GetChallengeId(), staleCode)
	if err != nil {
		t.Fatal(err)
	}
	de.clock.Advance(time.Minute)
	again, _ := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	againCode := de.smsCode(alicePhone)
	de.addPhone(bySMS.GetAccessToken(), "+442071838750")
	_, err = de.verify(aal1, again.GetChallengeId(), againCode)
	wantCode(t, err, codes.NotFound)
	if notice := de.sms.LastTo(t, alicePhone); !strings.Contains(notice.Body, "+44 *** *** 50") {
		t.Fatalf("notice to the old number: %q", notice.Body)
	}
}

// TestConfirmationCodeCannotStepUp: the code that confirms a new address serves only
// that: presented to VerifySecondFactor with its challenge id (from the server's log),
// it is an unknown challenge, and it still confirms the address afterwards.
func TestConfirmationCodeCannotStepUp(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	if _, err := de.account.AddEmail(bearer(t, aal1), &stepupv1.AddEmailRequest{Email: aliceEmail}); err != nil {
		t.Fatal(err)
	}
	code := de.mailCode(aliceEmail)
	_, err := de.verify(aal1, de.logs.lastChallenge(t, "address confirmation started"), code)
	wantCode(t, err, codes.NotFound)
	if _, err := de.account.ConfirmEmail(bearer(t, aal1), &stepupv1.ConfirmEmailRequest{Code: code}); err != nil {
		t.Fatalf("ConfirmEmail: %v", err)
	}
	_, err = de.account.ConfirmEmail(bearer(t, aal1), &stepupv1.ConfirmEmailRequest{Code: code})
	if st := wantCode(t, err, codes.FailedPrecondition); st.Message() != "no email address waiting for confirmation" {
		t.Fatalf("second confirmation: %q", st.Message())
	}
}

// TestConfirmNeedsStepUpOnceEnrolled: an address added with the password alone, while
// the user had no factor, cannot be confirmed with the password alone once the user has
// enrolled one; otherwise whoever knew the password could slip their address in.
func TestConfirmNeedsStepUpOnceEnrolled(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	attacker := de.login("alice", alicePassword).GetAccessToken()
	if _, err := de.account.AddPhone(bearer(t, attacker), &stepupv1.AddPhoneRequest{PhoneNumber: alicePhone}); err != nil {
		t.Fatal(err)
	}
	de.enrollTOTP(de.login("alice", alicePassword).GetAccessToken())
	_, err := de.account.ConfirmPhone(bearer(t, attacker), &stepupv1.ConfirmPhoneRequest{Code: de.smsCode(alicePhone)})
	wantStepUpError(t, err, "aal2", "300")
	if f := de.login("alice", alicePassword).GetFactors(); slices.Contains(f, stepupv1.Factor_FACTOR_SMS) {
		t.Fatalf("phone enrolled: %v", f)
	}
}

// TestDeliveryProviderDown: a code the provider did not accept answers UNAVAILABLE and
// leaves nothing that works: the challenge named in the server's log, answered with the
// very code the failing provider saw, is not found.
func TestDeliveryProviderDown(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	de.addPhone(aal1, alicePhone)
	bySMS := de.stepUpBy(aal1, stepupv1.Factor_FACTOR_SMS, alicePhone)

	de.sms.SetDown(true)
	_, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	st := wantCode(t, err, codes.Unavailable)
	if strings.Contains(st.Message(), alicePhone) {
		t.Fatalf("message %q names the number", st.Message())
	}
	received := de.sms.Received()
	if n := len(received); n != 2+3 { // confirmation, step-up, then three attempts at 503
		t.Fatalf("provider saw %d requests", n)
	}
	leaked := deliverytest.Code(received[len(received)-1].Body)
	id := de.logs.challengeNotSent(t)
	_, err = de.verify(aal1, id, leaked)
	wantCode(t, err, codes.NotFound)

	// Adding an address while the provider is down leaves nothing to confirm.
	de.clock.Advance(time.Minute) // past the per-user limit of three a minute
	_, err = de.account.AddPhone(bearer(t, bySMS), &stepupv1.AddPhoneRequest{PhoneNumber: "+442071838750"})
	wantCode(t, err, codes.Unavailable)
	_, err = de.account.ConfirmPhone(bearer(t, bySMS), &stepupv1.ConfirmPhoneRequest{
		Code: deliverytest.Code(de.sms.Received()[len(de.sms.Received())-1].Body)})
	wantCode(t, err, codes.FailedPrecondition)

	// Email down: the SMTP server refuses the recipient.
	de.smtp.RejectRecipients(true)
	_, err = de.account.AddEmail(bearer(t, bySMS), &stepupv1.AddEmailRequest{Email: aliceEmail})
	wantCode(t, err, codes.Unavailable)
	if logs := de.logs.String(); strings.Contains(logs, leaked) || strings.Contains(logs, aliceEmail) ||
		strings.Contains(logs, alicePhone) {
		t.Fatalf("a code or an address reached the log:\n%s", logs)
	}
}

// TestDeliveryProviderSlow: a provider that does not answer holds up only the call that
// sends, for at most the delivery timeout; other calls answer meanwhile.
func TestDeliveryProviderSlow(t *testing.T) {
	const timeout = 3 * time.Second
	de := startDelivery(t, func(_ *deliveryEnv, o *daemon.Options) { o.Server.DeliveryTimeout = timeout })
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	de.addPhone(aal1, alicePhone)
	de.clock.Advance(time.Minute)

	de.sms.SetDelay(time.Minute)
	slow := make(chan error, 1)
	began := time.Now()
	go func() {
		_, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
		slow <- err
	}()
	waitFor(t, func() bool { return len(de.sms.Received()) == 2 }) // the send is in flight

	// A login (a bbolt write), a validation and an account read answer meanwhile.
	start := time.Now()
	tok := de.login("alice", alicePassword).GetAccessToken()
	if !de.validate(tok, "", 0).GetValid() {
		t.Fatal("token invalid")
	}
	if _, err := de.account.ListFactors(bearer(t, tok), &stepupv1.ListFactorsRequest{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("calls took %v while a send hung", took)
	}
	select {
	case err := <-slow:
		t.Fatalf("slow send returned before the other calls: %v", err)
	default:
	}
	err := <-slow
	wantCode(t, err, codes.Unavailable)
	if took := time.Since(began); took < timeout || took > timeout+3*time.Second {
		t.Fatalf("slow send answered after %v, want about the %v timeout", took, timeout)
	}
	leaked := deliverytest.Code(de.sms.Received()[1].Body)
	_, err = de.verify(aal1, de.logs.challengeNotSent(t), leaked)
	wantCode(t, err, codes.NotFound)
}

// TestDeliveryBadAddresses: malformed numbers and addresses are INVALID_ARGUMENT naming
// the field, never echoing the value, and nothing is sent.
func TestDeliveryBadAddresses(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	tok := de.login("alice", alicePassword).GetAccessToken()
	for _, number := range []string{"4155552671", "+1 415 555 2671", "+1415555267", "+0123456789", "",
		"+1415555267<script>"} {
		_, err := de.account.AddPhone(bearer(t, tok), &stepupv1.AddPhoneRequest{PhoneNumber: number})
		wantField(t, err, "phone_number", number)
	}
	for _, addr := range []string{"alice", "alice@localhost", "Alice <alice@example.com>",
		"alice@example.com\r\nBcc: mallory@example.com", "ålice@example.com", ""} {
		_, err := de.account.AddEmail(bearer(t, tok), &stepupv1.AddEmailRequest{Email: addr})
		wantField(t, err, "email", addr)
	}
	if len(de.sms.Received()) != 0 || len(de.smtp.Mails()) != 0 {
		t.Fatal("something was sent")
	}
}

func wantField(t *testing.T, err error, field, value string) {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	if value != "" && strings.Contains(st.Message(), value) {
		t.Fatalf("message %q echoes the value", st.Message())
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Fatalf("no field violation for %s in %v", field, st.Details())
}

// TestDeliveryResendFlood: while a code to a number is unanswered, another goes out at
// most a minute later; no number gets more than ten an hour, whoever asks; and a
// restart does not reset the count.
func TestDeliveryResendFlood(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	de.addPhone(aal1, alicePhone) // send 1, answered

	// An answered code does not hold up the next one; an unanswered one does.
	if _, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS); err != nil {
		t.Fatalf("step-up right after confirming: %v", err)
	}
	_, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	st := wantCode(t, err, codes.ResourceExhausted)
	if wait := retryDelay(st.Details()); wait != time.Minute {
		t.Fatalf("RetryInfo %v, want 1m", wait)
	}
	for i := 3; i <= 10; i++ {
		de.clock.Advance(time.Minute)
		if _, err := de.challenge(aal1, stepupv1.Factor_FACTOR_SMS); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	de.clock.Advance(time.Minute)
	_, err = de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	st = wantCode(t, err, codes.ResourceExhausted)
	if wait := retryDelay(st.Details()); wait != 51*time.Minute {
		t.Fatalf("after ten sends in the hour: RetryInfo %v, want 51m", wait)
	}

	// Another account cannot send to the flooded number either.
	de.createUser("mallory", alicePassword)
	mallory := de.login("mallory", alicePassword).GetAccessToken()
	_, err = de.account.AddPhone(bearer(t, mallory), &stepupv1.AddPhoneRequest{PhoneNumber: alicePhone})
	wantCode(t, err, codes.ResourceExhausted)

	// The history is in the database: a restart keeps the limit.
	de.reboot()
	_, err = de.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	wantCode(t, err, codes.ResourceExhausted)
	if n := len(de.sms.Received()); n != 10 {
		t.Fatalf("the number got %d messages, want 10", n)
	}

	// An hour after the first, one more goes out.
	de.clock.Advance(51 * time.Minute)
	fresh := de.login("alice", alicePassword).GetAccessToken()
	if _, err := de.challenge(fresh, stepupv1.Factor_FACTOR_SMS); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}

// TestDeliveryPerUserLimit: one account cannot spray codes over many numbers.
func TestDeliveryPerUserLimit(t *testing.T) {
	de := startDelivery(t, nil)
	de.createUser("mallory", alicePassword)
	tok := de.login("mallory", alicePassword).GetAccessToken()
	numbers := []string{"+14155550101", "+14155550102", "+14155550103", "+14155550104"}
	for i, n := range numbers {
		_, err := de.account.AddPhone(bearer(t, tok), &stepupv1.AddPhoneRequest{PhoneNumber: n})
		if i < 3 && err != nil {
			t.Fatalf("AddPhone %d: %v", i, err)
		}
		if i == 3 {
			wantCode(t, err, codes.ResourceExhausted)
		}
	}
}

// TestTwilioDelivery: the same journey through Twilio's Messages API shape.
func TestTwilioDelivery(t *testing.T) {
	de := startDelivery(t, func(de *deliveryEnv, o *daemon.Options) {
		o.SMS = daemon.SMSDelivery{Via: daemon.ViaTwilio, Twilio: delivery.TwilioConfig{
			AccountSID: deliverytest.TwilioAccountSID, AuthToken: deliverytest.TwilioAuthToken,
			From: deliverytest.TwilioFrom, BaseURL: de.sms.URL,
		}}
	})
	de.createUser("alice", alicePassword)
	aal1 := de.login("alice", alicePassword).GetAccessToken()
	de.addPhone(aal1, alicePhone)
	de.clock.Advance(time.Minute)
	tok := de.stepUpBy(aal1, stepupv1.Factor_FACTOR_SMS, alicePhone)
	if got := de.validate(tok, "aal2", 0); !got.GetValid() {
		t.Fatalf("Twilio step-up: %v", got.GetReason())
	}
	for _, r := range de.sms.Received() {
		if r.API != "twilio" || !r.Authentic {
			t.Fatalf("request %+v", r)
		}
	}
}

// TestEmailIsAAL2Policy: by default an email step-up does not make account changes once
// a stronger factor exists; with the policy on, it does.
func TestEmailIsAAL2Policy(t *testing.T) {
	for _, policy := range []bool{false, true} {
		de := startDelivery(t, func(_ *deliveryEnv, o *daemon.Options) { o.Server.EmailIsAAL2 = policy })
		de.createUser("alice", alicePassword)
		aal1 := de.login("alice", alicePassword).GetAccessToken()
		de.addEmail(aal1, aliceEmail)
		byEmail := de.stepUpBy(aal1, stepupv1.Factor_FACTOR_EMAIL, aliceEmail)
		de.addPhone(byEmail, alicePhone) // email is the only factor: email-otp suffices

		de.clock.Advance(time.Minute)
		byEmail = de.stepUpBy(aal1, stepupv1.Factor_FACTOR_EMAIL, aliceEmail)
		_, err := de.account.CreateRecoveryCodes(bearer(t, byEmail), &stepupv1.CreateRecoveryCodesRequest{})
		if policy && err != nil {
			t.Fatalf("policy on: %v", err)
		}
		if !policy {
			wantStepUpError(t, err, "aal2", "300")
		}
	}
}

// TestNoDeliveryConfigured: without a sender, the email and SMS calls say so.
func TestNoDeliveryConfigured(t *testing.T) {
	e := start(t)
	e.createUser("alice", alicePassword)
	tok := e.login("alice", alicePassword).GetAccessToken()
	_, err := e.account.AddEmail(bearer(t, tok), &stepupv1.AddEmailRequest{Email: aliceEmail})
	if st := wantCode(t, err, codes.FailedPrecondition); st.Message() != "email delivery is not configured" {
		t.Fatalf("message %q", st.Message())
	}
	_, err = e.account.AddPhone(bearer(t, tok), &stepupv1.AddPhoneRequest{PhoneNumber: alicePhone})
	if st := wantCode(t, err, codes.FailedPrecondition); st.Message() != "SMS delivery is not configured" {
		t.Fatalf("message %q", st.Message())
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }

func retryDelay(details []any) time.Duration {
	for _, d := range details {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer collects the daemon's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// challengeNotSent returns the id of the latest challenge the log says was not sent.
func (b *logBuffer) challengeNotSent(t *testing.T) string {
	t.Helper()
	return b.lastChallenge(t, "code not sent")
}

// lastChallenge returns the challenge id of the latest log line with message msg.
func (b *logBuffer) lastChallenge(t *testing.T, msg string) string {
	t.Helper()
	line := regexp.MustCompile(`msg="` + regexp.QuoteMeta(msg) + `".* challenge_id=(\S+)`)
	m := line.FindAllStringSubmatch(b.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no %q line in the log:\n%s", msg, b.String())
	}
	return m[len(m)-1][1]
}
