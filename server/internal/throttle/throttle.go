package throttle

import (
	"container/list"
	"sync"
	"time"
)

// Defaults for zero Config fields.
const (
	defaultFree    = 5
	defaultBase    = time.Second
	defaultMax     = 15 * time.Minute
	defaultForget  = time.Hour
	defaultMaxKeys = 100000
)

// Config configures a Limiter. Zero fields take the defaults.
type Config struct {
	// Free is the number of failures a key may have before back-off starts: failure
	// Free+1 imposes Base, each later one doubles it. Zero means 5; a negative value
	// means no free failures.
	Free int
	// Base is the first back-off. Zero means 1 second.
	Base time.Duration
	// Max caps the back-off. Zero means 15 minutes; a Max below Base is raised to Base.
	Max time.Duration
	// Forget is how long after its last failure a key is dropped, once its back-off has
	// also ended. Zero means 1 hour.
	Forget time.Duration
	// MaxKeys bounds the number of keys tracked. When it is reached, the key whose last
	// failure is oldest is evicted. Zero means 100000.
	MaxKeys int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// withDefaults replaces zero and negative fields with usable values.
func (c Config) withDefaults() Config {
	switch {
	case c.Free == 0:
		c.Free = defaultFree
	case c.Free < 0:
		c.Free = 0
	}
	c.Base = positiveOr(c.Base, defaultBase)
	c.Max = max(positiveOr(c.Max, defaultMax), c.Base)
	c.Forget = positiveOr(c.Forget, defaultForget)
	if c.MaxKeys <= 0 {
		c.MaxKeys = defaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// positiveOr returns d if it is positive and def otherwise.
func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Limiter tracks failures per key and reports when a key must wait. It is safe for
// concurrent use.
//
// TODO: Check does not reserve an attempt, so requests for one key that all pass Check
// before the first of them records its Failure are all evaluated. The burst is bounded
// by how many requests fit into one password hash plus the hasher's queue, after which
// back-off applies; a Check that counted in-flight attempts would close the gap.
type Limiter struct {
	cfg Config

	mu   sync.Mutex
	keys map[string]*list.Element
	// lru holds *entry values ordered by last failure, oldest at the front.
	lru *list.List
}

// entry is the state of one key.
type entry struct {
	key      string
	failures int
	last     time.Time // time of the latest failure
	until    time.Time // end of the current back-off
}

// New returns a Limiter with cfg's zero fields set to their defaults.
func New(cfg Config) *Limiter {
	return &Limiter{
		cfg:  cfg.withDefaults(),
		keys: make(map[string]*list.Element),
		lru:  list.New(),
	}
}

// Check reports whether key may make an attempt now. While key is in back-off it
// returns ok=false and how long is left.
func (l *Limiter) Check(key string) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	el, found := l.keys[key]
	if !found {
		return 0, true
	}
	e := el.Value.(*entry)
	if l.expired(e, now) {
		l.remove(el)
		return 0, true
	}
	if wait := e.until.Sub(now); wait > 0 {
		return wait, false
	}
	return 0, true
}

// Failure records a failed attempt for key and starts or lengthens its back-off.
func (l *Limiter) Failure(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.pruneExpired(now)
	el := l.lookup(key, now)
	e := el.Value.(*entry)
	e.failures++
	e.last = now
	e.until = now.Add(l.backoff(e.failures))
	l.lru.MoveToBack(el)
}

// Success clears key after a successful attempt.
func (l *Limiter) Success(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.keys[key]; ok {
		l.remove(el)
	}
}

// lookup returns key's element, starting a fresh entry if it is absent or forgotten,
// and evicts the oldest entry to make room for a new one.
func (l *Limiter) lookup(key string, now time.Time) *list.Element {
	if el, ok := l.keys[key]; ok {
		if l.expired(el.Value.(*entry), now) {
			el.Value = &entry{key: key}
		}
		return el
	}
	if len(l.keys) >= l.cfg.MaxKeys {
		l.remove(l.lru.Front())
	}
	el := l.lru.PushBack(&entry{key: key})
	l.keys[key] = el
	return el
}

// backoff returns the wait after the given number of failures: none for the free ones,
// then Base doubling per failure, capped at Max.
func (l *Limiter) backoff(failures int) time.Duration {
	over := failures - l.cfg.Free
	if over <= 0 {
		return 0
	}
	d := l.cfg.Base
	for i := 1; i < over; i++ {
		if d >= l.cfg.Max/2 {
			return l.cfg.Max
		}
		d *= 2
	}
	return min(d, l.cfg.Max)
}

// expired reports whether e can be forgotten: its last failure is Forget ago and its
// back-off is over, so a short Forget never cuts a back-off short.
func (l *Limiter) expired(e *entry, now time.Time) bool {
	return !now.Before(e.last.Add(l.cfg.Forget)) && !now.Before(e.until)
}

// pruneExpired drops forgotten entries from the old end of the list, so memory follows
// recent activity rather than MaxKeys. It stops at the first live entry; the rest are
// caught by later calls or by Check.
func (l *Limiter) pruneExpired(now time.Time) {
	for el := l.lru.Front(); el != nil && l.expired(el.Value.(*entry), now); el = l.lru.Front() {
		l.remove(el)
	}
}

// remove deletes el from the list and the index.
func (l *Limiter) remove(el *list.Element) {
	l.lru.Remove(el)
	delete(l.keys, el.Value.(*entry).key)
}

// size returns the number of tracked keys, for tests.
func (l *Limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
