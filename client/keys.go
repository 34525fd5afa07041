package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// maxJWKSMessage bounds a GetJwks or WatchJwks message: the JSON form is at most
// token.MaxJWKSSize, and the field-by-field copy about as much again.
const maxJWKSMessage = 4 * token.MaxJWKSSize

// keyState is one accepted key set and a token.Verifier bound to exactly that set, so
// a verification knows which set it used and the cache can record it.
type keyState struct {
	set      *token.KeySet
	json     string // the document it was parsed from, to skip identical pushes
	verifier *token.Verifier
}

// installKeys parses a key set from stepup and makes it current. A set that
// token.ParseJWKS refuses (private or symmetric keys, duplicate kids, oversized, empty)
// is logged and dropped: the last good set stays. gen is 0 for a pushed set; for a
// fetched one it is what startFetch returned, and the answer is dropped if anything
// was installed or fetched since, so a slow fetch never undoes a newer push.
func (v *Verifier) installKeys(jwks *stepupv1.JwkSet, source string, gen uint64) {
	v.installMu.Lock()
	defer v.installMu.Unlock()
	if gen != 0 && gen != v.gen {
		return
	}
	data := jwks.GetJson()
	cur := v.keys.Load()
	if cur != nil && cur.json == data {
		return
	}
	ks, err := v.newKeyState(data)
	if err != nil {
		v.log.Warn("rejected key set from stepup, keeping the last good one",
			logSource, source, logErr, err)
		return
	}
	v.keys.Store(ks)
	v.gen++
	v.log.Info("key set installed", logSource, source, logKeys, kidsOf(ks.set))
	if cur == nil {
		close(v.keysReady)
	}
}

func (v *Verifier) newKeyState(data string) (*keyState, error) {
	set, err := token.ParseJWKS([]byte(data))
	if err != nil {
		return nil, err
	}
	ver, err := token.NewVerifier(token.VerifierConfig{
		Issuer: v.cfg.Issuer, Audience: v.cfg.Audience, Leeway: v.cfg.Leeway, Now: v.cfg.Now,
		Keys: func() *token.KeySet { return set },
	})
	if err != nil {
		return nil, err
	}
	return &keyState{set: set, json: data, verifier: ver}, nil
}

// kidsOf lists a set's kids for the log; kids are public identifiers.
func kidsOf(set *token.KeySet) []string {
	keys := set.Keys()
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// startFetch marks the start of a GetJwks and returns the generation its answer
// must still find to be installed; never 0.
func (v *Verifier) startFetch() uint64 {
	v.installMu.Lock()
	defer v.installMu.Unlock()
	v.gen++
	return v.gen
}

// watchKeys follows WatchJwks, reconnecting with back-off, until ctx ends. While no
// set has arrived yet, a broken stream is followed by one GetJwks, so a verifier can
// start even when the stream cannot be opened.
func (v *Verifier) watchKeys(ctx context.Context) {
	b := newBackoff(v.cfg.tuning)
	for {
		got, err := v.followKeys(ctx)
		if ctx.Err() != nil {
			return
		}
		if got {
			b.reset()
		}
		wait := v.streamBroke("watch_jwks", err, b)
		if v.keys.Load() == nil {
			v.fetchKeys(ctx, "get_jwks_fallback")
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// followKeys reads one WatchJwks stream and reports whether it delivered anything.
func (v *Verifier) followKeys(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := v.auth.WatchJwks(ctx, &stepupv1.WatchJwksRequest{},
		grpc.MaxCallRecvMsgSize(maxJWKSMessage))
	if err != nil {
		return false, err
	}
	got := false
	for {
		msg, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		v.installKeys(msg.GetJwks(), "watch_jwks", 0)
	}
}

// fetchKeys calls GetJwks once and installs the answer.
func (v *Verifier) fetchKeys(ctx context.Context, source string) {
	gen := v.startFetch()
	ctx, cancel := context.WithTimeout(ctx, v.cfg.tuning.rpcTimeout)
	defer cancel()
	resp, err := v.auth.GetJwks(ctx, &stepupv1.GetJwksRequest{},
		grpc.MaxCallRecvMsgSize(maxJWKSMessage))
	if err != nil {
		v.log.Warn("fetching key set failed", logSource, source, logErr, err)
		return
	}
	v.installKeys(resp.GetJwks(), source, gen)
}

// fetchLimiter lets a token with an unknown kid trigger at most one GetJwks per
// cooldown; requests arriving while a fetch runs wait for it instead of starting
// another. Without it, a flood of random kids would become a flood of fetches.
type fetchLimiter struct {
	mu       sync.Mutex
	last     time.Time     // when the last fetch started, by Config.Now
	inflight chan struct{} // closed when the running fetch ends; nil if none
	closed   bool
}

func (f *fetchLimiter) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// begin returns the channel of the fetch to wait for, and whether the caller must run
// it; then begin has added it to wg, and the caller must call end. Adding under f.mu
// orders it before Close's wg.Wait, which sets closed under f.mu first.
func (f *fetchLimiter) begin(now time.Time, cooldown time.Duration, wg *sync.WaitGroup,
) (ch chan struct{}, run bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inflight != nil {
		return f.inflight, false
	}
	if f.closed || (!f.last.IsZero() && now.Sub(f.last) < cooldown) {
		return nil, false
	}
	f.last = now
	f.inflight = make(chan struct{})
	wg.Add(1)
	return f.inflight, true
}

func (f *fetchLimiter) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.inflight)
	f.inflight = nil
}

// refetch is called after a token named a kid missing from failed. It fetches the key
// set (rate limited) and reports whether the current set differs from failed, that
// is, whether verifying again could succeed.
func (v *Verifier) refetch(ctx context.Context, failed *keyState) bool {
	ch, run := v.fetch.begin(v.cfg.Now(), v.cfg.JWKSRefetchCooldown, &v.wg)
	if run {
		// The fetch runs on the verifier's context, not the request's, so one impatient
		// caller cannot cancel it for everyone waiting.
		go func() {
			defer v.wg.Done()
			defer v.fetch.end()
			v.fetchKeys(v.ctx, "unknown_kid")
		}()
	}
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return v.keys.Load() != failed
}

// verify returns the claims of a token whose signature and claims check out under the
// current key set, from the cache when it can.
func (v *Verifier) verify(ctx context.Context, raw string) (*token.Claims, error) {
	ks := v.keys.Load()
	if ks == nil {
		return nil, ErrNoKeys
	}
	key := cacheKey(raw)
	now := v.cfg.Now()
	if c, ok := v.cache.get(&key, ks, now); ok {
		return c, nil
	}
	claims, err := v.verifyWith(ks, raw)
	if errors.Is(err, token.ErrUnknownKey) && v.refetch(ctx, ks) {
		ks = v.keys.Load()
		claims, err = v.verifyWith(ks, raw)
	}
	if err != nil {
		return nil, err
	}
	v.cache.put(&key, v.newEntry(ks, raw, claims))
	return claims, nil
}

func (v *Verifier) verifyWith(ks *keyState, raw string) (*token.Claims, error) {
	v.verifications.Add(1)
	return ks.verifier.Verify(raw)
}

// newEntry makes the cache entry of a token that ks verified.
func (v *Verifier) newEntry(ks *keyState, raw string, c *token.Claims) *cacheEntry {
	kid := kidOf(raw)
	key, _ := ks.set.Lookup(kid)
	return &cacheEntry{
		claims: c,
		kid:    kid,
		key:    key,
		keys:   ks,
		until:  c.Expiry.Add(v.cfg.Leeway),
	}
}
