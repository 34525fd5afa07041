package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"
)

const (
	// saltSize is the salt length for new hashes (RFC 9106 recommends 16 bytes).
	saltSize = 16
	// keyLen is the hash length for new hashes.
	keyLen = 32
	// defaultQueueTimeout is how long a caller waits for a hashing slot by default.
	defaultQueueTimeout = 2 * time.Second
)

// Config configures a Hasher. The zero value is usable and gives the defaults.
type Config struct {
	// Params are the argon2id parameters for new hashes. The zero value means
	// DefaultParams. NewHasher rejects parameters below OWASP's minimum unless
	// AllowWeak is set.
	Params Params
	// AllowWeak permits parameters below OWASP's minimum. It is for tests only, where
	// the real cost would make the suite slow.
	AllowWeak bool
	// Concurrency is the most hashes that run at once; each holds Params.Memory KiB.
	// Zero means runtime.GOMAXPROCS(0).
	Concurrency int
	// QueueTimeout is how long a caller waits for a slot before ErrBusy. Zero means 2s.
	QueueTimeout time.Duration
	// Rand is the source of salts. Nil means crypto/rand.Reader.
	Rand io.Reader
}

// Hasher hashes and verifies passwords with argon2id, running at most
// Config.Concurrency hashes at a time. It is safe for concurrent use.
type Hasher struct {
	params Params
	rand   io.Reader
	slots  chan struct{}
	wait   time.Duration
	dummy  string
	// derive computes the key; tests replace it to hold a slot.
	derive func(password, salt []byte, p Params, keyLen uint32) []byte
}

// NewHasher checks cfg, fills in defaults and makes the dummy hash that VerifyDummy
// checks against, which costs one hash with the configured parameters.
func NewHasher(cfg Config) (*Hasher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hasher{
		params: cfg.Params,
		rand:   cfg.Rand,
		slots:  make(chan struct{}, cfg.Concurrency),
		wait:   cfg.QueueTimeout,
		derive: argon2id,
	}
	if h.dummy, err = h.newDummy(); err != nil {
		return nil, err
	}
	return h, nil
}

// withDefaults validates c and replaces zero fields with their defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Params == (Params{}) {
		c.Params = DefaultParams
	}
	if err := c.Params.check(c.AllowWeak); err != nil {
		return c, err
	}
	if c.Concurrency < 0 || c.QueueTimeout < 0 {
		return c, fmt.Errorf("%w: negative concurrency or queue timeout", ErrInvalidConfig)
	}
	if c.Concurrency == 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = defaultQueueTimeout
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return c, nil
}

// newDummy hashes a random password that nobody knows, outside the slot limit.
func (h *Hasher) newDummy() (string, error) {
	pw, err := h.randomBytes(keyLen)
	if err != nil {
		return "", err
	}
	salt, err := h.randomBytes(saltSize)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, h.derive(pw, salt, h.params, keyLen)), nil
}

// argon2id is the real key derivation.
func argon2id(password, salt []byte, p Params, keyLen uint32) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
}

// Hash returns a PHC-encoded argon2id hash of password with a fresh salt. It does not
// apply Validate; callers setting a password should. It returns ErrBusy when no slot
// frees up in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt, err := h.randomBytes(saltSize)
	if err != nil {
		return "", err
	}
	key, err := h.run(ctx, []byte(password), salt, h.params, keyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, using the parameters stored in
// encoded and comparing in constant time. It returns ErrMalformedHash for a string it
// cannot parse or whose parameters exceed m=1 GiB, t=20, p=16, and ErrBusy when no slot
// frees up within the queue timeout or ctx ends first. Once hashing starts it runs to
// the end: argon2 cannot be interrupted.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	d, err := decode(encoded)
	if err != nil {
		return false, err
	}
	key, err := h.run(ctx, []byte(password), d.salt, d.params, uint32(len(d.key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// VerifyDummy does the work of Verify against a hash of an unknown password made by
// NewHasher with the current parameters, and discards the result. Call it when the
// username does not exist, so that the reply takes as long as for a real account. Its
// only error is ErrBusy.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.Verify(ctx, h.dummy, password)
	return err
}

// NeedsRehash reports whether encoded should be replaced by a fresh Hash of the
// password, now that the password is known: it is malformed, or its parameters, salt or
// hash length differ from the current ones. Lower and higher settings both migrate, so
// every stored hash converges on the configured cost.
func (h *Hasher) NeedsRehash(encoded string) bool {
	d, err := decode(encoded)
	return err != nil || d.params != h.params || len(d.salt) != saltSize || len(d.key) != keyLen
}

// run derives a key while holding a slot.
func (h *Hasher) run(ctx context.Context, password, salt []byte, p Params, n uint32) (
	[]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.slots }()
	return h.derive(password, salt, p, n), nil
}

// acquire takes a slot, waiting at most the queue timeout. A caller whose context has
// already ended gets no slot even if one is free: nobody would read the answer.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	case <-timer.C:
		return ErrBusy
	}
}

// randomBytes reads n bytes from the configured source.
func (h *Hasher) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(h.rand, b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return b, nil
}
