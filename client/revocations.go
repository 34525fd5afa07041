package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// maxRevocationMessage bounds one revocation message. A snapshot holds every entry
// still relevant, at roughly 60 bytes each, so grpc-go's 4 MiB default would cap it
// near 70,000 entries; past the cap the stream could never sync and every call would
// fail closed. 32 MiB leaves room for a large burst of logouts.
const maxRevocationMessage = 32 << 20

// errNoSnapshot means a revocation stream's first message was not a snapshot, which
// breaks the protocol: the stream is dropped and opened again.
var errNoSnapshot = errors.New("client: revocation stream did not start with a snapshot")

// revocations is the local copy of stepup's revocation list and the health of the
// stream that feeds it.
type revocations struct {
	mu       sync.RWMutex
	sessions map[string]time.Time // sid -> relevant_until (zero: keep until the next snapshot)
	tokens   map[string]time.Time // jti -> relevant_until
	users    map[string]userState // user id -> its state, only if it revokes anything

	synced    bool      // a snapshot has arrived at some point
	live      bool      // the current stream has delivered its snapshot and is open
	downSince time.Time // when the stream was last seen to break
	warned    bool      // the stale state has been logged since the last snapshot

	ready     chan struct{} // closed at the first snapshot
	readyOnce sync.Once
}

type userState struct {
	disabled  bool
	notBefore time.Time
}

func newRevocations() *revocations {
	return &revocations{
		sessions: map[string]time.Time{},
		tokens:   map[string]time.Time{},
		users:    map[string]userState{},
		ready:    make(chan struct{}),
	}
}

// check returns ErrRevoked if the list revokes c, else ErrRevocationsStale if the list
// cannot be trusted at now, else nil. A revocation found in a stale list still counts:
// stepup does not take revocations back, except by re-enabling a user.
func (r *revocations) check(c *token.Claims, now time.Time, staleAfter time.Duration) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.revokes(c) {
		return ErrRevoked
	}
	if r.stale(now, staleAfter) {
		return ErrRevocationsStale
	}
	return nil
}

// stale reports whether the list cannot be trusted at now; the caller holds r.mu.
func (r *revocations) stale(now time.Time, staleAfter time.Duration) bool {
	return !r.synced || (!r.live && now.Sub(r.downSince) > staleAfter)
}

// revokes applies the four rules; the caller holds r.mu.
func (r *revocations) revokes(c *token.Claims) bool {
	if _, ok := r.sessions[c.SessionID]; ok {
		return true
	}
	if _, ok := r.tokens[c.ID]; ok {
		return true
	}
	u, ok := r.users[c.Subject]
	return ok && (u.disabled || c.IssuedAt.Before(u.notBefore))
}

// apply adds one stream message to the list; a snapshot replaces the list. It returns
// errNoSnapshot if first is set and msg is not a snapshot.
func (r *revocations) apply(msg *stepupv1.WatchRevocationsResponse, first bool) error {
	if first && !msg.GetSnapshot() {
		return errNoSnapshot
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if msg.GetSnapshot() {
		r.sessions, r.tokens = map[string]time.Time{}, map[string]time.Time{}
		r.users = map[string]userState{}
		r.synced, r.live, r.warned = true, true, false
		r.readyOnce.Do(func() { close(r.ready) })
	}
	for _, s := range msg.GetEndedSessions() {
		addUntil(r.sessions, s.GetSessionId(), relevantUntil(s.GetRelevantUntil()))
	}
	for _, t := range msg.GetRevokedTokens() {
		addUntil(r.tokens, t.GetTokenId(), relevantUntil(t.GetRelevantUntil()))
	}
	for _, u := range msg.GetUsers() {
		r.setUser(u)
	}
	return nil
}

// relevantUntil turns a missing or invalid relevant_until into the zero time, which
// keeps the entry until the next snapshot: an entry is never dropped early by mistake.
func relevantUntil(ts *timestamppb.Timestamp) time.Time {
	if !ts.IsValid() {
		return time.Time{}
	}
	return ts.AsTime()
}

// addUntil records id, keeping the later relevant_until if it is already there.
func addUntil(m map[string]time.Time, id string, until time.Time) {
	if id == "" {
		return
	}
	old, ok := m[id]
	if ok && (old.IsZero() || (!until.IsZero() && old.After(until))) {
		return
	}
	m[id] = until
}

// setUser replaces a user's state; a user that revokes nothing is forgotten.
func (r *revocations) setUser(u *stepupv1.UserRevocation) {
	id := u.GetUserId()
	if id == "" {
		return
	}
	st := userState{disabled: u.GetDisabled()}
	if u.GetTokensNotBefore().IsValid() {
		st.notBefore = u.GetTokensNotBefore().AsTime()
	}
	if !st.disabled && st.notBefore.IsZero() {
		delete(r.users, id)
		return
	}
	r.users[id] = st
}

// prune drops session and token entries whose relevant_until plus leeway has passed:
// by then every token they could match is rejected as expired anyway. The leeway
// matters, since a token is accepted until exp+leeway.
func (r *revocations) prune(now time.Time, leeway time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []map[string]time.Time{r.sessions, r.tokens} {
		for id, until := range m {
			if !until.IsZero() && now.After(until.Add(leeway)) {
				delete(m, id)
			}
		}
	}
}

// markDown records that the stream broke at now; the staleness clock starts at the
// first break after a snapshot.
func (r *revocations) markDown(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live {
		r.live, r.downSince = false, now
	}
}

// size returns the number of entries, for tests.
func (r *revocations) size() (sessions, tokens, users int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.sessions), len(r.tokens), len(r.users)
}

// isLive reports whether the stream is up and synced, for tests.
func (r *revocations) isLive() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.live
}

// watchRevocations follows WatchRevocations, reconnecting with back-off, until ctx ends.
func (v *Verifier) watchRevocations(ctx context.Context) {
	b := newBackoff(v.cfg.tuning)
	for {
		synced, err := v.followRevocations(ctx)
		v.rev.markDown(v.cfg.Now())
		if ctx.Err() != nil {
			return
		}
		if synced {
			b.reset()
		}
		wait := v.streamBroke("watch_revocations", err, b)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// followRevocations reads one WatchRevocations stream and reports whether it got as
// far as a snapshot.
func (v *Verifier) followRevocations(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := v.auth.WatchRevocations(ctx, &stepupv1.WatchRevocationsRequest{},
		grpc.MaxCallRecvMsgSize(maxRevocationMessage))
	if err != nil {
		return false, err
	}
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if err != nil {
			return !first, err
		}
		if err := v.rev.apply(msg, first); err != nil {
			return false, err
		}
		if msg.GetSnapshot() {
			v.log.Info("revocation list synced")
		}
		v.rev.prune(v.cfg.Now(), v.cfg.Leeway)
	}
}

// pruneLoop prunes the revocation list while the stream is quiet, and logs when the
// list turns stale.
func (v *Verifier) pruneLoop(ctx context.Context) {
	t := time.NewTicker(v.cfg.tuning.pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := v.cfg.Now()
		v.rev.prune(now, v.cfg.Leeway)
		v.warnIfStale(now)
	}
}

// warnIfStale logs, once per outage, that the fail policy now applies.
func (v *Verifier) warnIfStale(now time.Time) {
	r := v.rev
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stale(now, v.cfg.RevocationStaleAfter) || r.warned {
		return
	}
	r.warned = true
	if v.cfg.FailOpen {
		v.log.Warn("revocation list stale: accepting verified tokens (fail open)")
		return
	}
	v.log.Warn("revocation list stale: refusing tokens with Unavailable (fail closed)")
}
