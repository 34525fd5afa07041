package daemon

import (
	"errors"
	"fmt"

	"github.com/stepup/stepup/server"
	"github.com/stepup/stepup/server/delivery"
)

// The ways of delivering codes, as Options and stepupd's flags name them.
const (
	ViaNone    = "none"
	ViaSMTP    = "smtp"
	ViaWebhook = "webhook"
	ViaTwilio  = "twilio"
	ViaDev     = "dev"
)

// EmailDelivery chooses how email codes are sent.
type EmailDelivery struct {
	// Via is ViaNone (or empty), ViaSMTP, or ViaDev.
	Via  string
	SMTP delivery.SMTPConfig
}

// SMSDelivery chooses how SMS codes are sent.
type SMSDelivery struct {
	// Via is ViaNone (or empty), ViaWebhook, ViaTwilio, or ViaDev.
	Via     string
	Webhook delivery.WebhookConfig
	Twilio  delivery.TwilioConfig
}

// Both channels' senders satisfy the server's interface.
var _ server.Sender = (*delivery.Sender)(nil)

// setSenders builds the configured senders into opts.Server, reporting every bad
// setting at once.
func setSenders(opts *Options) error {
	templates, err := delivery.ParseTemplates(opts.Templates)
	if err != nil {
		return err
	}
	// Both channels share one development transport, so its warning shows once.
	var dev *delivery.Dev
	devTransport := func() (delivery.Transport, error) {
		if dev != nil {
			return dev, nil
		}
		d, err := delivery.NewDev(delivery.DevConfig{Dir: opts.DataDir, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		dev = d
		return d, nil
	}
	email, emailErr := emailTransport(opts.Email, devTransport)
	sms, smsErr := smsTransport(opts.SMS, devTransport)
	if err := errors.Join(emailErr, smsErr); err != nil {
		return err
	}
	if opts.Server.EmailSender, err = newSender(delivery.Email, email, templates, opts); err != nil {
		return err
	}
	opts.Server.SMSSender, err = newSender(delivery.SMS, sms, templates, opts)
	return err
}

func emailTransport(e EmailDelivery, dev func() (delivery.Transport, error)) (delivery.Transport, error) {
	switch e.Via {
	case "", ViaNone:
		return nil, nil
	case ViaSMTP:
		return delivery.NewSMTP(e.SMTP)
	case ViaDev:
		return dev()
	}
	return nil, fmt.Errorf("email delivery %q: want none, smtp or dev", e.Via)
}

func smsTransport(s SMSDelivery, dev func() (delivery.Transport, error)) (delivery.Transport, error) {
	switch s.Via {
	case "", ViaNone:
		return nil, nil
	case ViaWebhook:
		return delivery.NewWebhook(s.Webhook)
	case ViaTwilio:
		return delivery.NewTwilio(s.Twilio)
	case ViaDev:
		return dev()
	}
	return nil, fmt.Errorf("SMS delivery %q: want none, webhook, twilio or dev", s.Via)
}

// newSender wraps a transport, or returns a nil interface when there is none: a typed
// nil pointer in server.Sender would look like a configured channel.
func newSender(c delivery.Channel, t delivery.Transport, tm *delivery.Templates, opts *Options) (server.Sender, error) {
	if t == nil {
		return nil, nil
	}
	s, err := delivery.New(delivery.Config{Channel: c, Transport: t, Templates: tm, Issuer: opts.Server.Issuer})
	if err != nil {
		return nil, err
	}
	opts.Logger.Info("code delivery configured", "channel", string(c))
	return s, nil
}
