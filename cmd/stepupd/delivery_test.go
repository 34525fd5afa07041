package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/server/delivery"
)

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestDeliveryFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "webhook.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, _, err := parseFlags([]string{
		"--email-delivery", "smtp", "--smtp-addr", "smtp.example.com:465", "--smtp-tls", "TLS",
		"--smtp-from", "no-reply@example.com", "--smtp-username", "stepup",
		"--sms-delivery", "webhook", "--sms-webhook-url", "https://sms.example.com/send",
		"--sms-webhook-key-file", keyFile, "--email-is-aal2",
	}, envOf(map[string]string{"STEPUP_SMTP_PASSWORD": "secret"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Email.Via != daemon.ViaSMTP || opts.Email.SMTP.Security != delivery.ImplicitTLS ||
		opts.Email.SMTP.Password != "secret" || opts.SMS.Via != daemon.ViaWebhook ||
		string(opts.SMS.Webhook.Key) != strings.Repeat("k", 40) || !opts.Server.EmailIsAAL2 {
		t.Fatalf("options: %+v", opts)
	}
}

func TestDeliveryFlagsFromEnvironment(t *testing.T) {
	opts, _, err := parseFlags(nil, envOf(map[string]string{
		"STEPUP_SMS_DELIVERY": "twilio", "STEPUP_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"STEPUP_TWILIO_AUTH_TOKEN": "token", "STEPUP_TWILIO_FROM": "+15005550006",
		"STEPUP_DELIVERY_TIMEOUT": "3s",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.SMS.Via != daemon.ViaTwilio || opts.SMS.Twilio.AuthToken != "token" ||
		opts.Server.DeliveryTimeout.String() != "3s" || opts.Email.Via != daemon.ViaNone {
		t.Fatalf("options: %+v", opts)
	}
}

// TestDeliveryFlagErrors: every problem is reported at once.
func TestDeliveryFlagErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("t"), 0o600)
	_, _, err := parseFlags([]string{
		"--email-delivery", "smtp", "--smtp-username", "stepup",
		"--sms-delivery", "twilio", "--twilio-auth-token-file", file,
	}, envOf(map[string]string{"STEPUP_TWILIO_AUTH_TOKEN": "t", "STEPUP_EMAIL_IS_AAL2": "maybe"}), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"SMTP password", "$STEPUP_TWILIO_AUTH_TOKEN and a file", "STEPUP_EMAIL_IS_AAL2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
