package server

import (
	"testing"
	"time"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// keyStates lists the keys as kid -> state.
func (h *harness) keyStates() map[string]string {
	h.t.Helper()
	resp, err := h.admin.ListSigningKeys(h.ctx(), &stepupv1.ListSigningKeysRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range resp.GetKeys() {
		out[k.GetKid()] = k.GetState()
	}
	return out
}

func kidWith(states map[string]string, state string) string {
	for kid, s := range states {
		if s == state {
			return kid
		}
	}
	return ""
}

// TestKeySchedule walks a key through next -> current -> retired -> removed on the fake
// clock: a next key is published a full JWKS cache period before it signs, and a retired
// key stays published until every token it signed has expired.
func TestKeySchedule(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.KeyRotationPeriod = time.Hour
		c.JWKSCacheTTL = 5 * time.Minute
	})
	first := h.keyStates()
	cur, next := kidWith(first, "current"), kidWith(first, "next")
	if len(first) != 2 || cur == "" || next == "" {
		t.Fatalf("a fresh server publishes a current and a next key: %v", first)
	}
	// An on-demand rotation right after start waits a cache period for the next key.
	resp, err := h.admin.RotateSigningKey(h.ctx(), &stepupv1.RotateSigningKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNextKid() != next || !resp.GetActivateAt().AsTime().Equal(epoch.Add(5*time.Minute)) {
		t.Fatalf("rotate: next %s at %v, want %s at %v", resp.GetNextKid(), resp.GetActivateAt().AsTime(),
			next, epoch.Add(5*time.Minute))
	}
	h.clock.Advance(5*time.Minute - time.Second)
	if err := h.srv.maintainKeys(); err != nil {
		t.Fatal(err)
	}
	if got := kidWith(h.keyStates(), "current"); got != cur {
		t.Fatalf("the next key signs before a cache period passed (current %s)", got)
	}
	h.clock.Advance(time.Second)
	if err := h.srv.maintainKeys(); err != nil {
		t.Fatal(err)
	}
	states := h.keyStates()
	if states[next] != "current" || states[cur] != "retired" || len(states) != 3 {
		t.Fatalf("after activation: %v", states)
	}

	// The retired key is removed only once every token it signed has expired.
	life := 15*time.Minute + 30*time.Second // AccessTokenTTL + Leeway
	h.clock.Advance(life - time.Second)
	if err := h.srv.maintainKeys(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.keyStates()[cur]; !ok {
		t.Fatal("retired key removed while its tokens could still be unexpired")
	}
	h.clock.Advance(time.Second)
	if err := h.srv.maintainKeys(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.keyStates()[cur]; ok {
		t.Fatal("retired key still published after its tokens expired")
	}

	// The schedule rotates on its own after KeyRotationPeriod.
	before := kidWith(h.keyStates(), "current")
	h.clock.Advance(time.Hour)
	for range 2 { // schedule, then activate (the next key is already old enough)
		if err := h.srv.maintainKeys(); err != nil {
			t.Fatal(err)
		}
	}
	if kidWith(h.keyStates(), "current") == before {
		t.Fatal("no scheduled rotation after the rotation period")
	}
}

// TestWatchRevocations: a subscriber gets a snapshot of what is still relevant, then
// each revocation as it commits.
func TestWatchRevocations(t *testing.T) {
	h := newHarness(t)
	id := h.createUser("alice")
	ended := h.login("alice").GetAccessToken()
	if _, err := h.auth.Logout(h.bearer(ended), &stepupv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	stream, err := h.auth.WatchRevocations(h.ctx(), &stepupv1.WatchRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !snap.GetSnapshot() || len(snap.GetEndedSessions()) != 1 ||
		snap.GetEndedSessions()[0].GetSessionId() != h.claimsOf(ended).SessionID {
		t.Fatalf("snapshot: %v", snap)
	}

	if _, err := h.admin.DisableUser(h.ctx(), &stepupv1.DisableUserRequest{User: userRef(id)}); err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetSnapshot() || len(ev.GetUsers()) != 1 || !ev.GetUsers()[0].GetDisabled() || ev.GetUsers()[0].GetUserId() != id {
		t.Fatalf("disable event: %v", ev)
	}
	if _, err := h.admin.RevokeToken(h.ctx(), &stepupv1.RevokeTokenRequest{TokenId: "jti-1"}); err != nil {
		t.Fatal(err)
	}
	ev, err = stream.Recv()
	if err != nil || len(ev.GetRevokedTokens()) != 1 || ev.GetRevokedTokens()[0].GetTokenId() != "jti-1" {
		t.Fatalf("revoke token event: %v %v", ev, err)
	}

	// Once the ended session's tokens have all expired it drops out of the snapshot.
	h.clock.Advance(15*time.Minute + 31*time.Second)
	again, err := h.auth.WatchRevocations(h.ctx(), &stepupv1.WatchRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err = again.Recv()
	if err != nil || len(snap.GetEndedSessions()) != 0 || len(snap.GetRevokedTokens()) != 0 {
		t.Fatalf("late snapshot: %v %v", snap, err)
	}
	if len(snap.GetUsers()) != 1 {
		t.Fatalf("a disabled user stays in the snapshot: %v", snap.GetUsers())
	}
}
