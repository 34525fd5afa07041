package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// SMTPSecurity says how the connection to the SMTP server is protected.
type SMTPSecurity string

// The SMTP security modes.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS before anything else;
	// a server that does not offer it is refused rather than used in the clear. The
	// default, for the submission port 587.
	StartTLS SMTPSecurity = "starttls"
	// ImplicitTLS speaks TLS from the first byte, for port 465.
	ImplicitTLS SMTPSecurity = "tls"
	// NoTLS sends in the clear, for a relay on the same host. Codes then cross the
	// connection readable, and net/smtp refuses AUTH PLAIN unless the host is local.
	NoTLS SMTPSecurity = "none"
)

// SMTPConfig configures the SMTP transport.
type SMTPConfig struct {
	// Addr is the server's host:port, such as "smtp.example.com:587". Required.
	Addr string
	// From is the sender, a plain address or "Name <address>". Required.
	From string
	// Username and Password authenticate with AUTH PLAIN, which is only sent over TLS
	// (or to localhost). No AUTH when Username is empty.
	Username string
	Password string
	// Security defaults to StartTLS.
	Security SMTPSecurity
	// RootCAs verify the server's certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must carry; default the host of Addr.
	ServerName string
	// HelloName is the name sent with EHLO. Default "localhost".
	HelloName string
	// Timeout bounds one message, from dialing to QUIT. Default 10 seconds.
	Timeout time.Duration
}

// SMTP delivers email over SMTP.
type SMTP struct {
	cfg  SMTPConfig
	host string
	from *mail.Address
}

// NewSMTP checks cfg and returns the transport. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("%w: SMTP address %q: want host:port", ErrConfig, cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("%w: SMTP from address: %v", ErrConfig, err)
	}
	switch cfg.Security {
	case "":
		cfg.Security = StartTLS
	case StartTLS, ImplicitTLS, NoTLS:
	default:
		return nil, fmt.Errorf("%w: SMTP security %q: want starttls, tls or none", ErrConfig, cfg.Security)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &SMTP{cfg: cfg, host: host, from: from}, nil
}

// Deliver sends one message: one connection, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA,
// QUIT. The whole exchange runs under Timeout and ctx.
func (s *SMTP) Deliver(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("%w: smtp: connect: %w", ErrUnavailable, err)
	}
	// A deadline bounds every read and write; closing on cancel ends a stuck one early.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return timedOut(ctx, smtpFailure("greeting", err))
	}
	defer c.Close()
	return timedOut(ctx, s.exchange(c, m))
}

// timedOut names the deadline as the cause when ctx ended, instead of the "use of
// closed network connection" the cancelled exchange saw.
func timedOut(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: smtp: %w", ErrUnavailable, ctx.Err())
	}
	// The connection's deadline is the context's, and may fire first.
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Errorf("%w: smtp: %w", ErrUnavailable, context.DeadlineExceeded)
	}
	return err
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.cfg.Security == ImplicitTLS {
		d := &tls.Dialer{Config: s.tlsConfig()}
		return d.DialContext(ctx, "tcp", s.cfg.Addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.cfg.Addr)
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.cfg.ServerName, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
}

// exchange runs the SMTP conversation on an open client.
func (s *SMTP) exchange(c *smtp.Client, m Message) error {
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return smtpFailure("EHLO", err)
	}
	if s.cfg.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%w: smtp: the server does not offer STARTTLS", ErrUnavailable)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return smtpFailure("STARTTLS", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return smtpFailure("AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return smtpFailure("MAIL", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return smtpFailure("RCPT", err)
	}
	if err := s.data(c, m); err != nil {
		return err
	}
	if err := c.Quit(); err != nil {
		return smtpFailure("QUIT", err)
	}
	return nil
}

func (s *SMTP) data(c *smtp.Client, m Message) error {
	msg, err := s.format(m)
	if err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailure("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpFailure("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpFailure("DATA", err)
	}
	return nil
}

// format builds the RFC 5322 message: a text/plain UTF-8 body in quoted-printable, and
// Auto-Submitted so that autoresponders stay quiet (RFC 3834).
func (s *SMTP) format(m Message) ([]byte, error) {
	to := mail.Address{Address: m.To}
	id, err := messageID(s.from.Address)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	headers := [][2]string{
		{"From", s.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", id},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body + "\r\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// messageID makes a unique Message-ID in the sender's domain.
func messageID(from string) (string, error) {
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return "<" + hex.EncodeToString(r) + "@" + domain + ">", nil
}

// smtpFailure turns an SMTP error into ErrRejected (a 5xx reply) or ErrUnavailable
// (anything else). A server's reply text is dropped: a rejection often quotes the
// recipient ("550 <bob@example.com>: no such user"), which must not reach a log.
func smtpFailure(step string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		kind := ErrUnavailable
		if reply.Code >= 500 {
			kind = ErrRejected
		}
		return fmt.Errorf("%w: smtp: %s: reply %d", kind, step, reply.Code)
	}
	// The rest are network and TLS errors, and net/smtp's own, none of which quote the
	// message or the recipient.
	return fmt.Errorf("%w: smtp: %s: %w", ErrUnavailable, step, err)
}
