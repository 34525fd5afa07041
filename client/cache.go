package client

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/stepup/stepup/token"
)

// tokenCache remembers tokens that verified, so a token seen again skips the
// signature check. It is keyed by the SHA-256 of the token, so it holds no bearer
// token that a heap dump could give away. A key equals only the exact bytes that
// verified; ES256 malleability merely gives the same jti a second entry, and
// revocation goes by jti, sid and sub, never by this key.
//
// An entry only stands for "this signature was good under this key". Everything that
// can change is checked again on each hit: expiry (here), the key still being published
// (here), revocation and the call's rule (by the caller). Eviction is random, which
// needs no bookkeeping on hits, so hits take only a read lock.
type tokenCache struct {
	max int
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]*cacheEntry
}

// cacheEntry is immutable once stored; a changed entry is replaced.
type cacheEntry struct {
	claims *token.Claims
	kid    string
	key    token.Key // the key that verified the signature
	keys   *keyState // a key set known to still hold key under kid
	until  time.Time // exp plus leeway
}

// newTokenCache returns a cache of at most size entries, or nil (no caching) if size
// is negative. A nil *tokenCache is valid and never hits.
func newTokenCache(size int) *tokenCache {
	if size < 0 {
		return nil
	}
	return &tokenCache{max: size, m: make(map[[sha256.Size]byte]*cacheEntry)}
}

func cacheKey(raw string) [sha256.Size]byte { return sha256.Sum256([]byte(raw)) }

// get returns the claims cached under k if the entry is still usable at now with the
// current key set ks.
func (c *tokenCache) get(k *[sha256.Size]byte, ks *keyState, now time.Time) (*token.Claims, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e := c.m[*k]
	c.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	if !now.Before(e.until) {
		// Past exp+leeway: a full verification gives the authoritative answer.
		c.drop(k, e, nil)
		return nil, false
	}
	if e.keys != ks {
		if !keyStillPublished(e, ks) {
			c.drop(k, e, nil)
			return nil, false
		}
		renewed := *e
		renewed.keys = ks
		c.drop(k, e, &renewed)
	}
	return e.claims, true
}

// keyStillPublished reports whether ks still holds, under the entry's kid, the very
// key that verified it. A kid reused for another key does not count.
func keyStillPublished(e *cacheEntry, ks *keyState) bool {
	k, ok := ks.set.Lookup(e.kid)
	if !ok || k.Alg != e.key.Alg {
		return false
	}
	pub, ok := k.Public.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(e.key.Public)
}

// drop replaces old under k with repl (nil: deletes it), unless another goroutine has
// changed the entry meanwhile.
func (c *tokenCache) drop(k *[sha256.Size]byte, old, repl *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[*k] != old {
		return
	}
	if repl == nil {
		delete(c.m, *k)
		return
	}
	c.m[*k] = repl
}

// put stores e under k, evicting a random entry when full.
func (c *tokenCache) put(k *[sha256.Size]byte, e *cacheEntry) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*k]; !ok && len(c.m) >= c.max {
		for victim := range c.m {
			delete(c.m, victim)
			break
		}
	}
	c.m[*k] = e
}

// len returns the number of entries, for tests.
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// kidOf returns the kid header of a token that token.Verifier has accepted, whose
// header is therefore a flat object of plain strings.
func kidOf(raw string) string {
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}
