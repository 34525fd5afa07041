package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// DefaultRenewBefore is how long before expiry a ServiceToken or an exchanged token
// is replaced.
const DefaultRenewBefore = time.Minute

// ServiceConfig configures a ServiceToken.
type ServiceConfig struct {
	// Conn is a connection to stepup. Required.
	Conn grpc.ClientConnInterface
	// Name is the registered service name. Required.
	Name string
	// Key signs RFC 7523 client assertions; its public half must be registered with
	// the service. Preferred over Secret: stepup then holds nothing that lets anyone
	// act as the service. Set exactly one of Key and Secret.
	Key *token.PrivateKey
	// Issuer is stepup's issuer, the aud of the assertions. Required with Key.
	Issuer string
	// Secret is the service's secret, as AddService or RotateServiceSecret showed it.
	Secret string
	// Audience is the aud of the service tokens: the service to call, or empty for
	// stepup itself (what ExchangeToken needs).
	Audience string
	// RenewBefore is how long before expiry the token is replaced. Default
	// DefaultRenewBefore; it must be shorter than the service token lifetime.
	RenewBefore time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand supplies assertion jtis. Default crypto/rand.
	Rand io.Reader
	// Insecure lets the token be sent over connections without transport security,
	// on loopback and in tests.
	Insecure bool
}

// ServiceToken holds a service token for one audience and gets a new one from stepup
// when the current one is about to expire. It is credentials.PerRPCCredentials, so a
// background job passes it with grpc.WithPerRPCCredentials. Safe for concurrent use.
type ServiceToken struct {
	cfg  ServiceConfig
	auth stepupv1.AuthServiceClient

	mu  sync.Mutex
	raw string
	exp time.Time
}

// NewServiceToken checks cfg. It does not call stepup; the first Token call does.
func NewServiceToken(cfg ServiceConfig) (*ServiceToken, error) {
	var bad []string
	if cfg.Conn == nil {
		bad = append(bad, "Conn is nil")
	}
	if !token.ValidServiceName(cfg.Name) {
		bad = append(bad, "Name is not a service name")
	}
	if (cfg.Key == nil) == (cfg.Secret == "") {
		bad = append(bad, "set exactly one of Key and Secret")
	}
	if cfg.Key != nil && cfg.Issuer == "" {
		bad = append(bad, "Issuer is required with Key")
	}
	if cfg.RenewBefore < 0 {
		bad = append(bad, "RenewBefore is negative")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	setDefault(&cfg.RenewBefore, DefaultRenewBefore)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &ServiceToken{cfg: cfg, auth: stepupv1.NewAuthServiceClient(cfg.Conn)}, nil
}

// Token returns a service token with more than RenewBefore left, fetching a new one
// if needed. Concurrent callers share one fetch.
func (s *ServiceToken) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw != "" && s.cfg.Now().Before(s.exp.Add(-s.cfg.RenewBefore)) {
		return s.raw, nil
	}
	req, err := s.request()
	if err != nil {
		return "", err
	}
	resp, err := s.auth.IssueServiceToken(ctx, req)
	if err != nil {
		return "", err
	}
	s.raw, s.exp = resp.GetAccessToken(), resp.GetExpiresAt().AsTime()
	return s.raw, nil
}

// request builds the IssueServiceToken request with a fresh credential.
func (s *ServiceToken) request() (*stepupv1.IssueServiceTokenRequest, error) {
	req := &stepupv1.IssueServiceTokenRequest{Service: s.cfg.Name, Audience: s.cfg.Audience}
	if s.cfg.Key == nil {
		req.Credential = &stepupv1.IssueServiceTokenRequest_ClientSecret{ClientSecret: s.cfg.Secret}
		return req, nil
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, err
	}
	assertion, err := token.SignAssertion(s.cfg.Key, s.cfg.Name, s.cfg.Issuer,
		base64.RawURLEncoding.EncodeToString(b), s.cfg.Now(), time.Minute)
	if err != nil {
		return nil, err
	}
	req.Credential = &stepupv1.IssueServiceTokenRequest_ClientAssertion{ClientAssertion: assertion}
	return req, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (s *ServiceToken) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	raw, err := s.Token(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{authorization: "Bearer " + raw}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (s *ServiceToken) RequireTransportSecurity() bool { return !s.cfg.Insecure }
