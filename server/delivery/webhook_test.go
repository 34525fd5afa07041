package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
	"github.com/stepup/stepup/server/delivery/deliverytest"
)

// The webhook and Twilio tests post to deliverytest.SMSProvider, a local HTTP server
// standing in for the provider: it checks the HMAC signature or the basic auth and
// records each request.

func webhookSender(t *testing.T, p *deliverytest.SMSProvider, tweak func(*delivery.WebhookConfig)) *delivery.Sender {
	t.Helper()
	cfg := delivery.WebhookConfig{URL: p.WebhookURL(), Key: p.Key,
		Retry: delivery.RetryPolicy{Retries: 2, Backoff: 10 * time.Millisecond}}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := delivery.NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := delivery.New(delivery.Config{Channel: delivery.SMS, Transport: tr, Issuer: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebhookSigned(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	if err := webhookSender(t, p, nil).SendStepUpCode(context.Background(), "+14155552671", "493817", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	got := p.Received()
	if len(got) != 1 || !got[0].Authentic || got[0].To != "+14155552671" ||
		deliverytest.Code(got[0].Body) != "493817" || !strings.HasPrefix(got[0].IdempotencyKey, "msg_") {
		t.Fatalf("received %+v", got)
	}
}

// TestWebhookWrongKey: the stand-in refuses a body signed with another key, and the
// sender reports the 401 as a rejection without retrying.
func TestWebhookWrongKey(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	s := webhookSender(t, p, func(c *delivery.WebhookConfig) { c.Key = []byte(strings.Repeat("k", 32)) })
	err := s.SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute)
	if !errors.Is(err, delivery.ErrRejected) || len(p.Received()) != 1 || p.Received()[0].Authentic {
		t.Fatalf("err %v, received %+v", err, p.Received())
	}
	noSecrets(t, err, "+14155552671", "493817")
}

func TestWebhookRetries(t *testing.T) {
	cases := []struct {
		name      string
		failures  int
		status    int
		want      error
		wantTries int
	}{
		{"5xx then success", 2, http.StatusBadGateway, nil, 3},
		{"5xx past the retries", 5, http.StatusServiceUnavailable, delivery.ErrUnavailable, 3},
		{"4xx is not retried", 5, http.StatusBadRequest, delivery.ErrRejected, 1},
		{"429 is not retried", 5, http.StatusTooManyRequests, delivery.ErrRejected, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := deliverytest.NewSMSProvider(t)
			p.FailNext(tc.failures, tc.status)
			err := webhookSender(t, p, nil).SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			got := p.Received()
			if len(got) != tc.wantTries {
				t.Fatalf("%d attempts, want %d", len(got), tc.wantTries)
			}
			for _, r := range got {
				if r.IdempotencyKey != got[0].IdempotencyKey || !r.Authentic {
					t.Fatalf("retry differs: %+v", got)
				}
			}
		})
	}
}

// TestWebhookBackoffDeadline: a retry whose back-off would end past the deadline is not
// waited for; the failure comes back at once.
func TestWebhookBackoffDeadline(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	p.FailNext(10, http.StatusInternalServerError)
	s := webhookSender(t, p, func(c *delivery.WebhookConfig) {
		c.Retry = delivery.RetryPolicy{Retries: 5, Backoff: 5 * time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	begin := time.Now()
	err := s.SendStepUpCode(ctx, "+14155552671", "493817", time.Minute)
	if took := time.Since(begin); !errors.Is(err, delivery.ErrUnavailable) || len(p.Received()) != 1 || took > 2*time.Second {
		t.Fatalf("err %v after %v and %d attempts", err, took, len(p.Received()))
	}
}

func TestWebhookTimeout(t *testing.T) {
	p := deliverytest.NewSMSProvider(t)
	p.SetDelay(5 * time.Second)
	s := webhookSender(t, p, func(c *delivery.WebhookConfig) { c.Timeout = 200 * time.Millisecond })
	begin := time.Now()
	err := s.SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute)
	if !errors.Is(err, delivery.ErrUnavailable) || time.Since(begin) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(begin))
	}
	if len(p.Received()) != 1 {
		t.Fatalf("a timed-out request was retried: %d attempts", len(p.Received()))
	}
	noSecrets(t, err, "+14155552671", "493817", p.WebhookURL())
}

func TestNewWebhookConfig(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, cfg := range []delivery.WebhookConfig{
		{URL: "https://sms.example.com/hook", Key: key[:31]},
		{URL: "http://sms.example.com/hook", Key: key},
		{URL: "ftp://sms.example.com/hook", Key: key},
		{URL: "/hook", Key: key},
	} {
		if _, err := delivery.NewWebhook(cfg); !errors.Is(err, delivery.ErrConfig) {
			t.Errorf("NewWebhook(%q, %d-byte key): %v", cfg.URL, len(cfg.Key), err)
		}
	}
	for _, u := range []string{"https://sms.example.com/hook", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/x"} {
		if _, err := delivery.NewWebhook(delivery.WebhookConfig{URL: u, Key: key}); err != nil {
			t.Errorf("NewWebhook(%q): %v", u, err)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	key, body := []byte(strings.Repeat("k", 32)), []byte(`{"to":"+14155552671"}`)
	sig := "sha256=" + delivery.Sign(key, body)
	if !delivery.VerifySignature(key, body, sig) {
		t.Fatal("own signature refused")
	}
	if delivery.VerifySignature(key, append(body, ' '), sig) || delivery.VerifySignature(key, body, sig[7:]) {
		t.Fatal("altered body or bare hex accepted")
	}
}
