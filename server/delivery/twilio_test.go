package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
	"github.com/stepup/stepup/server/delivery/deliverytest"
)

func twilioSender(t *testing.T, p *deliverytest.SMSProvider, tweak func(*delivery.TwilioConfig)) *delivery.Sender {
	t.Helper()
	cfg := delivery.TwilioConfig{
		AccountSID: deliverytest.TwilioAccountSID, AuthToken: deliverytest.TwilioAuthToken,
		From: deliverytest.TwilioFrom, BaseURL: p.URL,
		Retry: delivery.RetryPolicy{Retries: 2, Backoff: 10 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := delivery.NewTwilio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := delivery.New(delivery.Config{Channel: delivery.SMS, Transport: tr, Issuer: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTwilioDelivers(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	if err := twilioSender(t, p, nil).SendVerificationCode(context.Background(), "+14155552671", "493817", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	got := p.Received()
	if len(got) != 1 || got[0].API != "twilio" || !got[0].Authentic || got[0].To != "+14155552671" ||
		deliverytest.Code(got[0].Body) != "493817" {
		t.Fatalf("received %+v", got)
	}
}

func TestTwilioMessagingService(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	s := twilioSender(t, p, func(c *delivery.TwilioConfig) {
		c.From, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef"
	})
	if err := s.SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestTwilioErrors: Twilio's error code reaches the error, its message (which quotes
// the number) does not; a wrong token is a rejection; 5xx is retried.
func TestTwilioErrors(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	err := twilioSender(t, p, nil).SendStepUpCode(context.Background(), "4155552671", "493817", time.Minute)
	if !errors.Is(err, delivery.ErrRejected) || err.Error() != "delivery: provider rejected the message: twilio: status 400, error 21211" {
		t.Fatalf("invalid number: %v", err)
	}

	err = twilioSender(t, p, func(c *delivery.TwilioConfig) { c.AuthToken = "wrong" }).
		SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute)
	if !errors.Is(err, delivery.ErrRejected) {
		t.Fatalf("wrong token: %v", err)
	}
	noSecrets(t, err, "+14155552671", "493817", "wrong")

	p.FailNext(1, http.StatusInternalServerError)
	before := len(p.Received())
	if err := twilioSender(t, p, nil).SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute); err != nil {
		t.Fatalf("after one 500: %v", err)
	}
	if n := len(p.Received()) - before; n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

func TestNewTwilioConfig(t *testing.T) {
	ok := delivery.TwilioConfig{AccountSID: deliverytest.TwilioAccountSID, AuthToken: "t", From: "+14155552671"}
	if _, err := delivery.NewTwilio(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := []func(*delivery.TwilioConfig){
		func(c *delivery.TwilioConfig) { c.AccountSID = "AC123/../x" },
		func(c *delivery.TwilioConfig) { c.AccountSID = "MG0123456789abcdef0123456789abcdef" },
		func(c *delivery.TwilioConfig) { c.AuthToken = "" },
		func(c *delivery.TwilioConfig) { c.From = "" },
		func(c *delivery.TwilioConfig) { c.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" },
		func(c *delivery.TwilioConfig) {
			c.From, c.MessagingServiceSID = "", "AC0123456789abcdef0123456789abcdef"
		},
		func(c *delivery.TwilioConfig) { c.BaseURL = "http://api.twilio.com" },
	}
	for i, tweak := range bad {
		cfg := ok
		tweak(&cfg)
		if _, err := delivery.NewTwilio(cfg); !errors.Is(err, delivery.ErrConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}
