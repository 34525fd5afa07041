package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one rendered message for a Transport.
type Message struct {
	Channel Channel
	Kind    Kind
	// To is the email address or E.164 phone number.
	To string
	// Subject is empty for SMS.
	Subject string
	Body    string
	// Code is the one-time code the body carries, empty in a notice. It is here for
	// Dev alone; every other transport must leave it unused.
	Code string
}

// Transport delivers rendered messages.
type Transport interface {
	Deliver(ctx context.Context, m Message) error
}

// Config configures a Sender.
type Config struct {
	// Channel picks the templates: Email or SMS. Required.
	Channel Channel
	// Transport delivers the rendered messages. Required.
	Transport Transport
	// Templates default to DefaultTemplates().
	Templates *Templates
	// Issuer is the service name the messages use. Default "stepup".
	Issuer string
}

// Sender renders stepup's messages for one channel and delivers them. It implements
// the server's Sender interface.
type Sender struct {
	cfg Config
}

// New returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Channel != Email && cfg.Channel != SMS {
		return nil, fmt.Errorf("%w: channel %q: want email or sms", ErrConfig, cfg.Channel)
	}
	if cfg.Transport == nil {
		return nil, errors.Join(ErrConfig, errors.New("delivery: no transport"))
	}
	if cfg.Templates == nil {
		cfg.Templates = DefaultTemplates()
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "stepup"
	}
	return &Sender{cfg: cfg}, nil
}

// SendVerificationCode sends the code that confirms to as a new address.
func (s *Sender) SendVerificationCode(ctx context.Context, to, code string, validFor time.Duration) error {
	return s.send(ctx, KindVerification, to, Data{Code: code, ValidFor: duration(validFor)})
}

// SendStepUpCode sends a code that steps up a session.
func (s *Sender) SendStepUpCode(ctx context.Context, to, code string, validFor time.Duration) error {
	return s.send(ctx, KindStepUp, to, Data{Code: code, ValidFor: duration(validFor)})
}

// SendAddressChanged tells to that it was replaced by newHint, or removed if newHint is
// empty.
func (s *Sender) SendAddressChanged(ctx context.Context, to, newHint string) error {
	return s.send(ctx, KindAddressChanged, to, Data{NewAddress: newHint})
}

func (s *Sender) send(ctx context.Context, k Kind, to string, d Data) error {
	d.Issuer = s.cfg.Issuer
	subject, body, err := s.cfg.Templates.compose(s.cfg.Channel, k, d)
	if err != nil {
		return err
	}
	return s.cfg.Transport.Deliver(ctx, Message{
		Channel: s.cfg.Channel, Kind: k, To: to, Subject: subject, Body: body, Code: d.Code,
	})
}
