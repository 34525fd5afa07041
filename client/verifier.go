package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// Mode says where a Verifier checks tokens.
type Mode int

const (
	// Local verifies signatures in process with keys from stepup's WatchJwks stream,
	// and applies revocations from its WatchRevocations stream. No RPC per request.
	Local Mode = iota
	// Remote asks stepup's ValidateToken on every request. It costs a round trip, but
	// revocation takes effect at once and no keys are held locally.
	Remote
)

// Defaults for the zero values of Config.
const (
	DefaultLeeway               = 30 * time.Second
	DefaultRevocationStaleAfter = 30 * time.Second
	DefaultCacheSize            = 10000
	DefaultJWKSRefetchCooldown  = 30 * time.Second
)

// maxLeeway is token.Verifier's own limit, checked here too so that a bad Config is
// reported with all its other problems at once.
const maxLeeway = 2 * time.Minute

// Config configures a Verifier. Zero values mean the documented defaults.
type Config struct {
	// Conn is a connection to stepup (Client.Conn, or any client connection). Required.
	// It should have keepalive enabled, as Dial does, so that a silently dead watch
	// stream is noticed and the revocation fail policy can apply.
	Conn grpc.ClientConnInterface
	// Issuer is the only accepted iss. Required.
	Issuer string
	// Audience must be one of a token's aud values. Required.
	Audience string
	// Mode is Local (default) or Remote.
	Mode Mode
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s, at most 2m.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives lifecycle events at Info, stream trouble at Warn and rejected
	// tokens at Warn or Debug, with IDs only, never tokens. Default slog.Default().
	Logger *slog.Logger
	// RevocationStaleAfter is how long the revocation stream may be down before the
	// fail policy applies. Default 30s. Before the first snapshot the revocation list is
	// stale at once: a verifier that has never heard of revocations knows nothing.
	RevocationStaleAfter time.Duration
	// FailOpen accepts verified tokens while the revocation list is stale. By default
	// (false) they are refused with Unavailable: a revoked token must not work just
	// because the stream to stepup broke.
	FailOpen bool
	// CacheSize bounds the verified-token cache (entries). Default 10000; negative
	// disables the cache.
	CacheSize int
	// JWKSRefetchCooldown is the least time between two GetJwks calls made because a
	// token named an unknown kid. It bounds what random kids can make the verifier
	// fetch. Default 30s.
	JWKSRefetchCooldown time.Duration

	// tuning holds knobs that only tests change.
	tuning tuning
}

// tuning are internal timings; tests shorten them.
type tuning struct {
	backoffBase, backoffMax time.Duration
	rpcTimeout              time.Duration // GetJwks, and ValidateToken in Remote mode
	pruneEvery              time.Duration
	streamCheckEvery        time.Duration // how often an open stream's token is re-checked
}

func (t *tuning) fill() {
	setDefault(&t.backoffBase, 200*time.Millisecond)
	setDefault(&t.backoffMax, 30*time.Second)
	setDefault(&t.rpcTimeout, 5*time.Second)
	setDefault(&t.pruneEvery, time.Minute)
	setDefault(&t.streamCheckEvery, time.Second)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// check reports every bad setting at once.
func (c *Config) check() error {
	var bad []string
	if c.Conn == nil {
		bad = append(bad, "Conn is nil")
	}
	if c.Issuer == "" {
		bad = append(bad, "Issuer is empty")
	}
	if c.Audience == "" {
		bad = append(bad, "Audience is empty")
	}
	if c.Mode != Local && c.Mode != Remote {
		bad = append(bad, "Mode is neither Local nor Remote")
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		bad = append(bad, "Leeway is outside 0..2m")
	}
	if c.RevocationStaleAfter < 0 || c.JWKSRefetchCooldown < 0 {
		bad = append(bad, "RevocationStaleAfter and JWKSRefetchCooldown must not be negative")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	return nil
}

func (c *Config) fill() {
	setDefault(&c.Leeway, DefaultLeeway)
	setDefault(&c.RevocationStaleAfter, DefaultRevocationStaleAfter)
	setDefault(&c.CacheSize, DefaultCacheSize)
	setDefault(&c.JWKSRefetchCooldown, DefaultJWKSRefetchCooldown)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.tuning.fill()
}

// Verifier checks stepup access tokens for a service and provides its server
// interceptors. It is safe for concurrent use. Close stops its background streams.
type Verifier struct {
	cfg  Config
	log  *slog.Logger
	auth stepupv1.AuthServiceClient

	keys      atomic.Pointer[keyState]
	keysReady chan struct{} // closed when the first key set is installed
	installMu sync.Mutex    // orders installs; see installKeys
	gen       uint64        // installs and fetch starts so far; guarded by installMu
	fetch     fetchLimiter

	rev   *revocations
	cache *tokenCache

	// verifications counts full signature verifications, so tests can tell a cache
	// hit from a miss.
	verifications atomic.Int64
	// lastStreamErr is why a watch stream last broke, for Ready to report.
	lastStreamErr atomic.Pointer[error]
	// lastRemoteWarn is when (by Config.Now, in Unix nanoseconds) a failed
	// ValidateToken was last logged at Warn, so an outage logs a line per
	// remoteWarnEvery rather than one per request.
	lastRemoteWarn atomic.Int64

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// NewVerifier checks cfg and, in Local mode, starts following stepup's key set and
// revocations in the background until ctx ends or Close is called. It does not wait
// for them: call Ready before serving.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.fill()
	v := &Verifier{
		cfg:       cfg,
		log:       cfg.Logger,
		auth:      stepupv1.NewAuthServiceClient(cfg.Conn),
		keysReady: make(chan struct{}),
		rev:       newRevocations(),
		cache:     newTokenCache(cfg.CacheSize),
	}
	v.ctx, v.cancel = context.WithCancel(ctx)
	if cfg.Mode == Local {
		v.start(v.watchKeys, v.watchRevocations, v.pruneLoop)
	}
	return v, nil
}

// start runs each loop in a goroutine that Close waits for.
func (v *Verifier) start(loops ...func(context.Context)) {
	for _, loop := range loops {
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			loop(v.ctx)
		}()
	}
}

// Ready waits until the verifier can decide: in Local mode, until it holds a key set
// and, unless FailOpen is set, the first revocation snapshot. If ctx ends first it
// returns ctx's error, with the last stream error for context (such as stepup not
// implementing a watch RPC); after Close it returns ErrClosed. In Remote mode it
// returns at once.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.cfg.Mode == Remote {
		return v.closedErr()
	}
	waits := []chan struct{}{v.keysReady, v.rev.ready}
	if v.cfg.FailOpen {
		waits = waits[:1]
	}
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			if last := v.lastStreamErr.Load(); last != nil {
				return fmt.Errorf("client: not ready: %w (last stream error: %v)", ctx.Err(), *last)
			}
			return ctx.Err()
		case <-v.ctx.Done():
			return ErrClosed
		}
	}
	return v.closedErr()
}

// streamBroke records and logs why a watch stream ended, and returns the wait before
// reopening it.
func (v *Verifier) streamBroke(stream string, err error, b *backoff) time.Duration {
	err = fmt.Errorf("%s: %w", stream, err)
	v.lastStreamErr.Store(&err)
	wait := b.next()
	v.log.Warn("stream to stepup interrupted", logStream, stream, logErr, err, logBackoff, wait)
	return wait
}

// Close stops the background streams and waits for them. Every later check fails
// with Unavailable. It does not close Config.Conn, which the caller owns.
func (v *Verifier) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	v.fetch.close()
	v.cancel()
	v.wg.Wait()
	return nil
}

func (v *Verifier) closedErr() error {
	if v.closed.Load() {
		return ErrClosed
	}
	return nil
}

// authenticate checks raw for a call that demands rule and returns its claims, or an
// error that statusFor maps.
func (v *Verifier) authenticate(ctx context.Context, raw string, rule Rule) (*token.Claims, error) {
	if err := v.closedErr(); err != nil {
		return nil, err
	}
	if v.cfg.Mode == Remote {
		return v.validateRemote(ctx, raw, rule)
	}
	return v.authenticateLocal(ctx, raw, rule)
}

// authenticateLocal verifies (or finds in the cache), then applies revocations and
// rule. Revocations and rule are applied on every call, cache hit or not.
func (v *Verifier) authenticateLocal(ctx context.Context, raw string, rule Rule,
) (*token.Claims, error) {
	claims, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	if err := v.checkRevocation(claims, now); err != nil {
		return claims, err
	}
	if err := claims.Satisfies(rule, now); err != nil {
		return claims, err
	}
	return claims, nil
}

// checkRevocation applies the revocation list and, if it is stale, the fail policy.
func (v *Verifier) checkRevocation(c *token.Claims, now time.Time) error {
	err := v.rev.check(c, now, v.cfg.RevocationStaleAfter)
	if errors.Is(err, ErrRevocationsStale) && v.cfg.FailOpen {
		return nil
	}
	return err
}
