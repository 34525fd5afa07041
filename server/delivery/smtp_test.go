package delivery_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
	"github.com/stepup/stepup/server/delivery/deliverytest"
)

// These tests send through a real SMTP server running in the test process
// (deliverytest.SMTPServer): STARTTLS with a certificate made for the test, AUTH PLAIN,
// and the message read back as it arrived.

func smtpSender(t *testing.T, srv *deliverytest.SMTPServer, tweak func(*delivery.SMTPConfig)) *delivery.Sender {
	t.Helper()
	cfg := delivery.SMTPConfig{
		Addr: srv.Addr, From: "Acme <no-reply@acme.example>",
		Username: srv.Username, Password: srv.Password, RootCAs: srv.RootCAs(),
		Timeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := delivery.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := delivery.New(delivery.Config{Channel: delivery.Email, Transport: tr, Issuer: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPDelivers(t *testing.T) {
	srv := deliverytest.NewSMTPServer(t)
	s := smtpSender(t, srv, nil)
	if err := s.SendStepUpCode(context.Background(), "alice@example.com", "493817", 5*time.Minute); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.WaitMails(t, 1)[0]
	if !m.TLS || m.User != srv.Username {
		t.Fatalf("session: tls=%v user=%q", m.TLS, m.User)
	}
	if m.From != "no-reply@acme.example" || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Fatalf("envelope: from %q to %v", m.From, m.To)
	}
	if got := m.Header("Subject"); got != "Acme: your sign-in code" {
		t.Fatalf("subject %q", got)
	}
	if got := m.Header("To"); got != "<alice@example.com>" {
		t.Fatalf("To %q", got)
	}
	if m.Header("Auto-Submitted") != "auto-generated" || m.Header("Message-Id") == "" {
		t.Fatalf("headers:\n%s", m.Data)
	}
	body := m.Body()
	if deliverytest.Code(body) != "493817" || !strings.Contains(body, "5 minutes") ||
		!strings.Contains(body, "ignore this message") {
		t.Fatalf("body:\n%s", body)
	}
}

// TestSMTPNonASCIISubject: an issuer outside ASCII reaches the subject intact.
func TestSMTPNonASCIISubject(t *testing.T) {
	srv := deliverytest.NewSMTPServer(t)
	tr, _ := delivery.NewSMTP(delivery.SMTPConfig{Addr: srv.Addr, From: "no-reply@acme.example",
		Username: srv.Username, Password: srv.Password, RootCAs: srv.RootCAs()})
	s, _ := delivery.New(delivery.Config{Channel: delivery.Email, Transport: tr, Issuer: "Bäckerei"})
	if err := s.SendVerificationCode(context.Background(), "a@example.com", "111111", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitMails(t, 1)[0].Header("Subject"); got != "Bäckerei: confirm your email address" {
		t.Fatalf("subject %q", got)
	}
}

func TestSMTPFailures(t *testing.T) {
	srv := deliverytest.NewSMTPServer(t)
	cases := []struct {
		name  string
		tweak func(*delivery.SMTPConfig)
		want  error
	}{
		{"wrong password", func(c *delivery.SMTPConfig) { c.Password = "wrong" }, delivery.ErrRejected},
		{"untrusted certificate", func(c *delivery.SMTPConfig) { c.RootCAs = nil }, delivery.ErrUnavailable},
		{"wrong server name", func(c *delivery.SMTPConfig) { c.ServerName = "smtp.example.com" }, delivery.ErrUnavailable},
		{"no AUTH means no MAIL", func(c *delivery.SMTPConfig) { c.Username = "" }, delivery.ErrRejected},
		{"nothing listening", func(c *delivery.SMTPConfig) { c.Addr = closedAddr(t) }, delivery.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := smtpSender(t, srv, tc.tweak).SendStepUpCode(context.Background(), "alice@example.com", "493817", time.Minute)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			noSecrets(t, err, "alice@example.com", "493817")
		})
	}
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("%d messages arrived", n)
	}
}

// TestSMTPRejectedRecipient: the server's reply quotes the address; the error must not.
func TestSMTPRejectedRecipient(t *testing.T) {
	srv := deliverytest.NewSMTPServer(t)
	srv.RejectRecipients(true)
	err := smtpSender(t, srv, nil).SendStepUpCode(context.Background(), "bob@example.com", "493817", time.Minute)
	if !errors.Is(err, delivery.ErrRejected) || !strings.Contains(err.Error(), "550") {
		t.Fatalf("err %v", err)
	}
	noSecrets(t, err, "bob@example.com", "493817")
}

// TestSMTPRequiresSTARTTLS: a server that does not offer STARTTLS is not used in the
// clear, and a server that never answers is given up on at the timeout.
func TestSMTPRequiresSTARTTLS(t *testing.T) {
	lis := fakeServer(t, "220 plain.example ESMTP\r\n", "250-plain.example\r\n250 AUTH PLAIN\r\n")
	tr, _ := delivery.NewSMTP(delivery.SMTPConfig{Addr: lis, From: "a@acme.example", Username: "u", Password: "p"})
	err := tr.Deliver(context.Background(), delivery.Message{To: "alice@example.com", Body: "x", Code: "493817"})
	if !errors.Is(err, delivery.ErrUnavailable) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err %v", err)
	}
}

func TestSMTPTimeout(t *testing.T) {
	silent := fakeServer(t) // accepts and says nothing
	tr, _ := delivery.NewSMTP(delivery.SMTPConfig{Addr: silent, From: "a@acme.example", Timeout: 300 * time.Millisecond})
	begin := time.Now()
	err := tr.Deliver(context.Background(), delivery.Message{To: "alice@example.com", Body: "x"})
	if !errors.Is(err, delivery.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
}

func TestNewSMTPConfig(t *testing.T) {
	for _, cfg := range []delivery.SMTPConfig{
		{Addr: "smtp.example.com", From: "a@example.com"},
		{Addr: "smtp.example.com:587", From: "not an address"},
		{Addr: "smtp.example.com:587", From: "a@example.com", Security: "ssl"},
	} {
		if _, err := delivery.NewSMTP(cfg); !errors.Is(err, delivery.ErrConfig) {
			t.Errorf("NewSMTP(%+v): %v", cfg, err)
		}
	}
}

// fakeServer accepts connections and writes the given lines, one per line read (the
// first at once), then keeps the connection open without a word.
func fakeServer(t *testing.T, lines ...string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				buf := make([]byte, 512)
				for i, l := range lines {
					if i > 0 {
						if _, err := c.Read(buf); err != nil {
							return
						}
					}
					c.Write([]byte(l))
				}
			}()
		}
	}()
	return lis.Addr().String()
}

func closedAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// noSecrets fails t if err's text holds any of the values.
func noSecrets(t *testing.T, err error, values ...string) {
	t.Helper()
	for _, v := range values {
		if err != nil && strings.Contains(err.Error(), v) {
			t.Fatalf("error %q contains %q", err, v)
		}
	}
}
