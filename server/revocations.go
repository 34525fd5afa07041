package server

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/store"
)

// revocationBuffer is how many batches a slow WatchRevocations subscriber may fall
// behind before it is cut off; it then reconnects and gets a fresh snapshot, so nothing
// is lost, only resent.
const revocationBuffer = 256

// revocationHub fans revocations out to WatchRevocations streams. Handlers publish only
// after their transaction committed, so a subscriber never hears of a revocation that
// did not happen.
type revocationHub struct {
	mu   sync.Mutex
	subs map[chan *stepupv1.WatchRevocationsResponse]struct{}
}

func (h *revocationHub) subscribe() (<-chan *stepupv1.WatchRevocationsResponse, func()) {
	ch := make(chan *stepupv1.WatchRevocationsResponse, revocationBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[chan *stepupv1.WatchRevocationsResponse]struct{})
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() { h.drop(ch) }
}

func (h *revocationHub) drop(ch chan *stepupv1.WatchRevocationsResponse) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// publish sends a batch to every subscriber without blocking; one that is full is cut
// off rather than allowed to slow revocation down for everyone.
func (h *revocationHub) publish(b *revBatch) {
	if b.empty() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- b.msg:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// revBatch collects the revocations of one transaction.
type revBatch struct {
	msg *stepupv1.WatchRevocationsResponse
	// tokenLife is how long after an event a token issued before it can still be
	// unexpired: the longest access token lifetime plus the leeway.
	tokenLife time.Duration
}

func (s *Server) newBatch() *revBatch {
	return &revBatch{
		msg:       &stepupv1.WatchRevocationsResponse{},
		tokenLife: s.cfg.AccessTokenTTL + s.cfg.Leeway,
	}
}

func (b *revBatch) empty() bool {
	m := b.msg
	return len(m.EndedSessions) == 0 && len(m.RevokedTokens) == 0 && len(m.Users) == 0
}

func (b *revBatch) endedSession(sess *store.Session) {
	until := sess.EndedAt.Add(b.tokenLife)
	if sess.ExpiresAt.Before(until) {
		until = sess.ExpiresAt
	}
	b.msg.EndedSessions = append(b.msg.EndedSessions, &stepupv1.EndedSession{
		SessionId: sess.ID, RelevantUntil: timestamppb.New(until)})
}

func (b *revBatch) user(u *store.User) {
	r := &stepupv1.UserRevocation{UserId: u.ID, Disabled: u.Disabled}
	if !u.TokensNotBefore.IsZero() {
		r.TokensNotBefore = timestamppb.New(u.TokensNotBefore)
	}
	b.msg.Users = append(b.msg.Users, r)
}

func (b *revBatch) token(r *store.RevokedToken) {
	b.msg.RevokedTokens = append(b.msg.RevokedTokens, &stepupv1.RevokedToken{
		TokenId: r.ID, RelevantUntil: timestamppb.New(r.RelevantUntil)})
}

// WatchRevocations streams a snapshot of the revocations that still matter, then each
// new one. A subscriber that falls behind is cut off with UNAVAILABLE and resubscribes.
func (s *Server) WatchRevocations(_ *stepupv1.WatchRevocationsRequest, stream stepupv1.AuthService_WatchRevocationsServer) error {
	// Subscribe before reading the snapshot so nothing committed in between is missed;
	// an event seen in both is applied twice, which is harmless.
	events, cancel := s.revocations.subscribe()
	defer cancel()
	snap, err := s.revocationSnapshot()
	if err != nil {
		return s.toStatus(stream.Context(), "watch_revocations", err)
	}
	if err := stream.Send(snap); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case msg, ok := <-events:
			if !ok {
				return status.Error(codes.Unavailable, "revocation stream fell behind; resubscribe")
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

// revocationSnapshot lists what a local verifier must know now: sessions ended, users
// disabled or revoked, and jtis revoked, while tokens they cover may still be unexpired.
func (s *Server) revocationSnapshot() (*stepupv1.WatchRevocationsResponse, error) {
	b := s.newBatch()
	b.msg.Snapshot = true
	now := s.cfg.Now()
	err := s.store.View(func(tx *store.Tx) error {
		err := tx.ForEachSession(func(sess *store.Session) error {
			if !sess.EndedAt.IsZero() && now.Before(sess.EndedAt.Add(b.tokenLife)) {
				b.endedSession(sess)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.ForEachUser(func(u *store.User) error {
			if u.Disabled || now.Before(u.TokensNotBefore.Add(b.tokenLife)) {
				b.user(u)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := removedServices(tx, b, now); err != nil {
			return err
		}
		return tx.ForEachRevokedToken(func(r *store.RevokedToken) error {
			if now.Before(r.RelevantUntil) {
				b.token(r)
			}
			return nil
		})
	})
	return b.msg, err
}
