package deliverytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	// Data is the message as it arrived, headers and encoded body.
	Data []byte
	// TLS reports whether the session had switched to TLS; User is who authenticated.
	TLS  bool
	User string
}

// Header returns a header of the message, decoded, or "".
func (m Mail) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Body returns the text of the message with its transfer encoding undone.
func (m Mail) Body() string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	var r io.Reader = msg.Body
	if msg.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		r = quotedprintable.NewReader(r)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

// codePattern finds a one-time code: a run of 6 to 10 digits on its own.
var codePattern = regexp.MustCompile(`\b[0-9]{6,10}\b`)

// Code returns the first one-time code in s, or "".
func Code(s string) string { return codePattern.FindString(s) }

// SMTPServer is a real SMTP server on a loopback port. It offers STARTTLS with a
// self-signed certificate and accepts AUTH PLAIN with Username and Password, and only
// after STARTTLS; mail from an unauthenticated session is refused.
type SMTPServer struct {
	Addr     string
	Username string
	Password string

	srv   *smtp.Server
	roots *x509.CertPool

	mu         sync.Mutex
	mails      []Mail
	arrived    chan struct{}
	rejectRcpt bool
}

// NewSMTPServer starts a server that t's cleanup stops.
func NewSMTPServer(t testing.TB) *SMTPServer {
	t.Helper()
	cert, roots := selfSigned(t)
	s := &SMTPServer{Username: "stepup", Password: "smtp password for tests", roots: roots,
		arrived: make(chan struct{}, 1000)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up are part of the tests
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	s.Addr = lis.Addr().String()
	go s.srv.Serve(lis)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// RootCAs holds the server's certificate, for the client's TLS config.
func (s *SMTPServer) RootCAs() *x509.CertPool { return s.roots }

// RejectRecipients makes RCPT fail with 550, quoting the address as real servers do.
func (s *SMTPServer) RejectRecipients(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt = on
}

// Mails returns the messages accepted so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitMails waits up to ten seconds for at least n messages and returns them all.
func (s *SMTPServer) WaitMails(t testing.TB, n int) []Mail {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("smtp: waited for %d messages, have %d", n, len(s.Mails()))
		}
	}
}

// LastTo returns the latest message to addr, failing t if there is none.
func (s *SMTPServer) LastTo(t testing.TB, addr string) Mail {
	t.Helper()
	mails := s.Mails()
	for i := len(mails) - 1; i >= 0; i-- {
		for _, to := range mails[i].To {
			if to == addr {
				return mails[i]
			}
		}
	}
	t.Fatalf("smtp: no message to %s among %d", addr, len(mails))
	return Mail{}
}

// session is one SMTP session of the server.
type session struct {
	s    *SMTPServer
	tls  bool
	user string
	mail Mail
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != se.s.Username || password != se.s.Password {
			return smtp.ErrAuthFailed
		}
		se.user = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.mail = Mail{From: from, TLS: se.tls, User: se.user}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	reject := se.s.rejectRcpt
	se.s.mu.Unlock()
	if reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: Recipient address rejected: User unknown"}
	}
	se.mail.To = append(se.mail.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.mail.Data = b
	se.s.mu.Lock()
	se.s.mails = append(se.s.mails, se.mail)
	se.s.mu.Unlock()
	select {
	case se.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (se *session) Reset()        { se.mail = Mail{} }
func (se *session) Logout() error { return nil }

// selfSigned makes a P-256 certificate for 127.0.0.1 and localhost and a pool that
// trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "deliverytest SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
