package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/server/delivery"
)

// deliveryFlags are the settings of code delivery that need work after parsing:
// secrets come from the environment or from files, never from flags, which any user
// can read in ps.
type deliveryFlags struct {
	smtpSecurity     string
	smtpCAFile       string
	smtpPasswordFile string
	webhookKeyFile   string
	twilioTokenFile  string
	templatesFile    string
}

// addDeliveryFlags registers the delivery flags, filling opts directly where it can.
func addDeliveryFlags(fs *flag.FlagSet, env func(name, def string) string, opts *daemon.Options) *deliveryFlags {
	var f deliveryFlags
	str := func(p *string, name, def, help string) {
		envName := "STEPUP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		fs.StringVar(p, name, env(envName, def), help+" [$"+envName+"]")
	}
	str(&opts.Email.Via, "email-delivery", daemon.ViaNone,
		"how email codes are sent: none, smtp, or dev (codes go to the log and\n"+
			"<data-dir>/"+delivery.DevFile+"; development only)")
	str(&opts.Email.SMTP.Addr, "smtp-addr", "", "SMTP server host:port, such as smtp.example.com:587")
	str(&opts.Email.SMTP.From, "smtp-from", "", `sender of code emails, such as "Example <no-reply@example.com>"`)
	str(&opts.Email.SMTP.Username, "smtp-username", "",
		"SMTP AUTH PLAIN user; the password comes from $STEPUP_SMTP_PASSWORD or --smtp-password-file")
	str(&f.smtpPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	str(&f.smtpSecurity, "smtp-tls", string(delivery.StartTLS),
		"SMTP connection security: starttls (port 587), tls (port 465), or none (a local relay)")
	str(&f.smtpCAFile, "smtp-ca-file", "",
		"PEM file of CAs that sign the SMTP server's certificate; default the system roots")

	str(&opts.SMS.Via, "sms-delivery", daemon.ViaNone,
		"how SMS codes are sent: none, webhook, twilio, or dev (codes go to the log and a file; development only)")
	str(&opts.SMS.Webhook.URL, "sms-webhook-url", "",
		"URL that receives signed JSON POSTs for SMS; the HMAC key comes from\n"+
			"$STEPUP_SMS_WEBHOOK_KEY or --sms-webhook-key-file")
	str(&f.webhookKeyFile, "sms-webhook-key-file", "", "file holding the webhook HMAC-SHA256 key (at least 32 bytes)")
	str(&opts.SMS.Twilio.AccountSID, "twilio-account-sid", "",
		"Twilio account SID (AC...); the auth token comes from $STEPUP_TWILIO_AUTH_TOKEN or --twilio-auth-token-file")
	str(&f.twilioTokenFile, "twilio-auth-token-file", "", "file holding the Twilio auth token")
	str(&opts.SMS.Twilio.From, "twilio-from", "", "Twilio sending number in E.164; or set --twilio-messaging-service-sid")
	str(&opts.SMS.Twilio.MessagingServiceSID, "twilio-messaging-service-sid", "", "Twilio messaging service SID (MG...)")
	str(&opts.SMS.Twilio.BaseURL, "twilio-base-url", delivery.DefaultTwilioBaseURL, "root of Twilio's REST API")
	str(&f.templatesFile, "templates-file", "",
		`Go text/template file whose {{define "name"}} blocks replace default messages (see README)`)
	return &f
}

// apply reads the secrets, the CA file and the templates into opts, after fs.Parse
// has settled the flags. It returns every problem it finds.
func (f *deliveryFlags) apply(opts *daemon.Options, getenv func(string) string) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	opts.Email.SMTP.Security = delivery.SMTPSecurity(strings.ToLower(f.smtpSecurity))
	if opts.Email.Via == daemon.ViaSMTP {
		opts.Email.SMTP.Password, err = secret(getenv, "STEPUP_SMTP_PASSWORD", f.smtpPasswordFile)
		add(err)
		if opts.Email.SMTP.Username != "" && opts.Email.SMTP.Password == "" && err == nil {
			add(errors.New("SMTP password: set $STEPUP_SMTP_PASSWORD or --smtp-password-file"))
		}
		opts.Email.SMTP.RootCAs, err = loadCAs(f.smtpCAFile)
		add(err)
	}
	switch opts.SMS.Via {
	case daemon.ViaWebhook:
		var key string
		key, err = secret(getenv, "STEPUP_SMS_WEBHOOK_KEY", f.webhookKeyFile)
		opts.SMS.Webhook.Key = []byte(key)
		add(err)
	case daemon.ViaTwilio:
		opts.SMS.Twilio.AuthToken, err = secret(getenv, "STEPUP_TWILIO_AUTH_TOKEN", f.twilioTokenFile)
		add(err)
	}
	if f.templatesFile != "" {
		b, err := os.ReadFile(f.templatesFile)
		add(err)
		opts.Templates = string(b)
	}
	return errs
}

// secret reads a secret from the environment variable or from the file, not both.
// Trailing line breaks in a file are dropped.
func secret(getenv func(string) string, envName, file string) (string, error) {
	v := getenv(envName)
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("$%s and a file are both set: choose one", envName)
	case file == "":
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// loadCAs reads a PEM bundle into a pool; no file means the system roots (nil).
func loadCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}
