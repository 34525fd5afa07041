package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

// Each kind of revocation pushed on the stream rejects a token the verifier has
// cached, without verifying it again.
func TestRevocationRejectsCachedToken(t *testing.T) {
	until := fakestepup.T0.Add(time.Hour)
	cases := []struct {
		name string
		msg  func(c *token.Claims) *stepupv1.WatchRevocationsResponse
	}{
		{"ended session", func(c *token.Claims) *stepupv1.WatchRevocationsResponse {
			return fakestepup.EndedSession(c.SessionID, until)
		}},
		{"revoked jti", func(c *token.Claims) *stepupv1.WatchRevocationsResponse {
			return fakestepup.RevokedToken(c.ID, until)
		}},
		{"disabled user", func(c *token.Claims) *stepupv1.WatchRevocationsResponse {
			return fakestepup.User(c.Subject, true, time.Time{})
		}},
		{"tokens_not_before after iat", func(c *token.Claims) *stepupv1.WatchRevocationsResponse {
			return fakestepup.User(c.Subject, false, c.IssuedAt.Add(time.Second))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.fake.NewClaims("u_ann", token.ACR1)
			tok := h.fake.Sign(c)
			for range 2 {
				if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.v.verifications.Load(); n != 1 {
				t.Fatalf("%d verifications for one token, want 1", n)
			}
			h.fake.Push(tc.msg(c))
			waitFor(t, "the revocation", func() bool {
				_, err := h.call(fakestepup.DemoRead, tok)
				return err != nil
			})
			_, err := h.call(fakestepup.DemoRead, tok)
			wantCode(t, err, codes.Unauthenticated)
			if n := h.v.verifications.Load(); n != 1 {
				t.Fatalf("%d verifications, want 1: the revoked token was not a cache hit", n)
			}
			other := h.fake.Token("u_bob", token.ACR1)
			if _, err := h.call(fakestepup.DemoRead, other); err != nil {
				t.Fatalf("another user's token: %v", err)
			}
		})
	}
}

// tokens_not_before equal to iat does not revoke: only tokens issued before it.
func TestNotBeforeBoundary(t *testing.T) {
	h := newHarness(t)
	c := h.fake.NewClaims("u_ann", token.ACR1)
	h.fake.Push(fakestepup.User(c.Subject, false, c.IssuedAt))
	h.fake.Push(fakestepup.EndedSession("sync", fakestepup.T0.Add(time.Hour)))
	waitFor(t, "the push", func() bool { s, _, _ := h.v.rev.size(); return s == 1 })
	if _, err := h.call(fakestepup.DemoRead, h.fake.Sign(c)); err != nil {
		t.Fatal(err)
	}
}

// A snapshot replaces the list: what it leaves out is no longer revoked.
func TestRevocationSnapshotReplaces(t *testing.T) {
	h := newHarness(t)
	c := h.fake.NewClaims("u_ann", token.ACR1)
	tok := h.fake.Sign(c)
	h.fake.Push(fakestepup.EndedSession(c.SessionID, fakestepup.T0.Add(time.Hour)))
	waitFor(t, "the revocation", func() bool { _, err := h.call(fakestepup.DemoRead, tok); return err != nil })

	snap := fakestepup.RevokedToken("jti-other", fakestepup.T0.Add(time.Hour))
	h.fake.SetSnapshot(snap)
	h.fake.EndRevocationStreams()
	waitFor(t, "the new snapshot", func() bool { s, k, _ := h.v.rev.size(); return s == 0 && k == 1 })
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("after a snapshot without the session: %v", err)
	}
}

// Entries are kept until relevant_until plus leeway, since tokens are accepted until
// exp plus leeway; entries without relevant_until stay until the next snapshot.
func TestRevocationPrune(t *testing.T) {
	r := newRevocations()
	until := fakestepup.T0.Add(time.Minute)
	msg := fakestepup.EndedSession("sid-1", until)
	msg.Snapshot = true
	msg.RevokedTokens = []*stepupv1.RevokedToken{
		{TokenId: "jti-1", RelevantUntil: msg.EndedSessions[0].RelevantUntil},
		{TokenId: "jti-forever"},
	}
	msg.Users = fakestepup.User("u_1", true, time.Time{}).Users
	if err := r.apply(msg, true); err != nil {
		t.Fatal(err)
	}
	r.prune(until.Add(DefaultLeeway), DefaultLeeway)
	if s, k, u := r.size(); s != 1 || k != 2 || u != 1 {
		t.Fatalf("pruned early: %d sessions, %d tokens, %d users", s, k, u)
	}
	r.prune(until.Add(DefaultLeeway+time.Second), DefaultLeeway)
	if s, k, u := r.size(); s != 0 || k != 1 || u != 1 {
		t.Fatalf("after relevant_until+leeway: %d sessions, %d tokens, %d users; want 0, 1, 1", s, k, u)
	}
}

// A user update that revokes nothing removes the user, and a later relevant_until
// for the same id wins.
func TestRevocationApply(t *testing.T) {
	r := newRevocations()
	if err := r.apply(fakestepup.User("u_1", true, time.Time{}), true); !errors.Is(err, errNoSnapshot) {
		t.Fatalf("first message not a snapshot: %v, want errNoSnapshot", err)
	}
	snap := fakestepup.User("u_1", true, time.Time{})
	snap.Snapshot = true
	_ = r.apply(snap, true)
	_ = r.apply(fakestepup.User("u_1", false, time.Time{}), false)
	_ = r.apply(fakestepup.EndedSession("s", fakestepup.T0.Add(time.Hour)), false)
	_ = r.apply(fakestepup.EndedSession("s", fakestepup.T0), false)
	if _, _, u := r.size(); u != 0 {
		t.Fatalf("re-enabled user still listed")
	}
	if got := r.sessions["s"]; !got.Equal(fakestepup.T0.Add(time.Hour)) {
		t.Fatalf("relevant_until = %v, want the later one", got)
	}
}

// By default a stale revocation list fails closed, but only after the grace period.
func TestStaleRevocationsFailClosed(t *testing.T) {
	h := newHarness(t)
	tok := h.fake.Token("u_ann", token.ACR1)
	h.fake.SetRevocationsDown(true)
	waitFor(t, "the stream to break", func() bool { return !h.v.rev.isLive() })

	h.clock.Advance(DefaultRevocationStaleAfter)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("within the grace period: %v", err)
	}
	h.clock.Advance(time.Second)
	_, err := h.call(fakestepup.DemoRead, tok)
	wantCode(t, err, codes.Unavailable)
	if body, err := h.call(fakestepup.DemoPublic, ""); err != nil || body != "public" {
		t.Fatalf("public method while stale: %q, %v", body, err)
	}
	waitFor(t, "the stale warning", func() bool { return h.logs.count("fail closed") == 1 })

	h.fake.SetRevocationsDown(false)
	waitFor(t, "the stream to resume", h.v.rev.isLive)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("after the stream resumed: %v", err)
	}
}

// With FailOpen a stale list lets verified tokens through, but still rejects what it
// knew to be revoked.
func TestStaleRevocationsFailOpen(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.FailOpen = true }))
	revoked := h.fake.NewClaims("u_bob", token.ACR1)
	h.fake.Push(fakestepup.EndedSession(revoked.SessionID, fakestepup.T0.Add(time.Hour)))
	waitFor(t, "the push", func() bool { s, _, _ := h.v.rev.size(); return s == 1 })
	h.fake.SetRevocationsDown(true)
	waitFor(t, "the stream to break", func() bool { return !h.v.rev.isLive() })

	h.clock.Advance(time.Hour)
	tok := h.fake.Token("u_ann", token.ACR1)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("fail open: %v", err)
	}
	_, err := h.call(fakestepup.DemoRead, h.fake.Sign(revoked))
	wantCode(t, err, codes.Unauthenticated)
}

// Before the first snapshot nothing is known about revocations: Ready waits, and
// calls fail closed (or open, if so configured).
func TestNoSnapshotYet(t *testing.T) {
	for _, open := range []bool{false, true} {
		h := newHarness(t, noWait(), withConfig(func(c *Config) { c.FailOpen = open }),
			beforeStart(func(h *harness) { h.fake.SetRevocationsDown(true) }))
		waitFor(t, "a key set", func() bool { return h.v.keys.Load() != nil })
		_, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1))
		if open {
			if err != nil {
				t.Fatalf("fail open without a snapshot: %v", err)
			}
			if err := h.v.Ready(testCtx(t)); err != nil {
				t.Fatalf("Ready with FailOpen waits for revocations: %v", err)
			}
			continue
		}
		wantCode(t, err, codes.Unavailable)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err = h.v.Ready(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "watch_revocations") {
			t.Fatalf("Ready = %v, want DeadlineExceeded naming the broken stream", err)
		}
		cancel()
	}
}
