package client

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// DefaultExchangeCacheSize bounds an Exchanger's cache of exchanged tokens.
const DefaultExchangeCacheSize = 10000

// ExchangeConfig configures an Exchanger.
type ExchangeConfig struct {
	// Conn is a connection to stepup. Required.
	Conn grpc.ClientConnInterface
	// Credentials authenticate this service to ExchangeToken: a ServiceToken for
	// stepup's own audience. Required.
	Credentials *ServiceToken
	// Audience is the registered name of the target service. Required.
	Audience string
	// RenewBefore is how long before its expiry an exchanged token is dropped from the
	// cache. Default 30s.
	RenewBefore time.Duration
	// CacheSize bounds the cache (entries). Default DefaultExchangeCacheSize.
	CacheSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Exchanger sends, on outgoing calls to one target, a token for that target obtained
// from stepup's ExchangeToken in place of the caller's token (RFC 8693). The target
// gets a token with the caller's user, session and authentication, valid for itself
// only, that names this service in its act claim. Exchanged tokens are cached, keyed
// by a hash of the incoming token, until RenewBefore their expiry. Calls whose
// context carries no verified token go out unchanged. Safe for concurrent use.
type Exchanger struct {
	cfg  ExchangeConfig
	auth stepupv1.AuthServiceClient

	mu    sync.Mutex
	cache map[[sha256.Size]byte]exchanged
}

type exchanged struct {
	raw string
	exp time.Time
}

// NewExchanger checks cfg.
func NewExchanger(cfg ExchangeConfig) (*Exchanger, error) {
	var bad []string
	if cfg.Conn == nil {
		bad = append(bad, "Conn is nil")
	}
	if cfg.Credentials == nil {
		bad = append(bad, "Credentials is nil")
	}
	if cfg.Audience == "" {
		bad = append(bad, "Audience is empty")
	}
	if cfg.RenewBefore < 0 || cfg.CacheSize < 0 {
		bad = append(bad, "RenewBefore and CacheSize must not be negative")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	setDefault(&cfg.RenewBefore, 30*time.Second)
	setDefault(&cfg.CacheSize, DefaultExchangeCacheSize)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Exchanger{cfg: cfg, auth: stepupv1.NewAuthServiceClient(cfg.Conn),
		cache: map[[sha256.Size]byte]exchanged{}}, nil
}

// errExchangeRefused answers the user's call when stepup will not exchange the
// caller's token (revoked, session ended, expired): the user must authenticate again.
var errExchangeRefused = status.Error(codes.Unauthenticated, "invalid or expired access token")

// Token returns a token for the target exchanged from subject, from the cache if one
// has more than RenewBefore left.
func (e *Exchanger) Token(ctx context.Context, subject string) (string, error) {
	key := sha256.Sum256([]byte(subject))
	now := e.cfg.Now()
	if raw, ok := e.cached(key, now); ok {
		return raw, nil
	}
	bearer, err := e.cfg.Credentials.Token(ctx)
	if err != nil {
		return "", err
	}
	resp, err := e.auth.ExchangeToken(withBearer(ctx, bearer), &stepupv1.ExchangeTokenRequest{
		SubjectToken: subject, Audience: e.cfg.Audience})
	if status.Code(err) == codes.InvalidArgument {
		return "", errExchangeRefused
	}
	if err != nil {
		return "", err
	}
	e.store(key, exchanged{raw: resp.GetAccessToken(), exp: resp.GetExpiresAt().AsTime()}, now)
	return resp.GetAccessToken(), nil
}

func (e *Exchanger) cached(key [sha256.Size]byte, now time.Time) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.cache[key]
	if !ok || !now.Before(x.exp.Add(-e.cfg.RenewBefore)) {
		delete(e.cache, key)
		return "", false
	}
	return x.raw, true
}

// store caches x. A full cache first drops expired entries, then, if still full, an
// arbitrary one: a miss only costs one more exchange.
func (e *Exchanger) store(key [sha256.Size]byte, x exchanged, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cache) >= e.cfg.CacheSize {
		for k, old := range e.cache {
			if !now.Before(old.exp.Add(-e.cfg.RenewBefore)) {
				delete(e.cache, k)
			}
		}
		for k := range e.cache {
			if len(e.cache) < e.cfg.CacheSize {
				break
			}
			delete(e.cache, k)
		}
	}
	e.cache[key] = x
}

// outgoing replaces the caller's token with the exchanged one.
func (e *Exchanger) outgoing(ctx context.Context) (context.Context, error) {
	raw, ok := TokenFromContext(ctx)
	if !ok {
		return ctx, nil
	}
	tok, err := e.Token(ctx, raw)
	if err != nil {
		return nil, err
	}
	return withBearer(ctx, tok), nil
}

// UnaryClientInterceptor exchanges the token on unary calls.
func (e *Exchanger) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return unaryWith(e.outgoing)
}

// StreamClientInterceptor exchanges the token on streaming calls.
func (e *Exchanger) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return streamWith(e.outgoing)
}
