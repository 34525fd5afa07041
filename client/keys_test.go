package client

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

// Stepup publishes a key before signing with it; the verifier learns it from the
// stream, so the first token under the new key needs no fetch.
func TestKeyRotationThroughWatch(t *testing.T) {
	h := newHarness(t)
	old := h.fake.Token("u_ann", token.ACR1)
	kid := h.fake.RotateKey()
	waitFor(t, "the pushed key set", func() bool { return h.hasKid(kid) })

	if _, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1)); err != nil {
		t.Fatalf("token under the new key: %v", err)
	}
	if _, err := h.call(fakestepup.DemoRead, old); err != nil {
		t.Fatalf("token under the old, still published key: %v", err)
	}
	if n := h.fake.Calls("GetJwks"); n != 0 {
		t.Fatalf("GetJwks called %d times, want 0", n)
	}
}

// When the stream lags, a token under a new kid makes the verifier fetch once.
func TestUnknownKidFetchesNewKey(t *testing.T) {
	h := newHarness(t)
	h.fake.HoldKeyPushes(true)
	kid := h.fake.RotateKey()
	if h.hasKid(kid) {
		t.Fatal("the held push arrived")
	}
	if _, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1)); err != nil {
		t.Fatalf("token under the fetched key: %v", err)
	}
	if n := h.fake.Calls("GetJwks"); n != 1 {
		t.Fatalf("GetJwks called %d times, want 1", n)
	}
}

// 1000 tokens with random kids, from 8 goroutines at once, cause at most one fetch
// per cooldown.
func TestUnknownKidFetchRateLimit(t *testing.T) {
	h := newHarness(t)
	claims := h.fake.NewClaims("u_ann", token.ACR1)
	toks := make([]string, 1000)
	for i := range toks {
		toks[i] = outsider(t, randomKid(t), claims)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(toks); i += 8 {
				if _, err := h.call(fakestepup.DemoRead, toks[i]); status.Code(err) != codes.Unauthenticated {
					t.Errorf("token %d: %v, want Unauthenticated", i, err)
				}
			}
		})
	}
	wg.Wait()
	if n := h.fake.Calls("GetJwks"); n != 1 {
		t.Fatalf("GetJwks called %d times for 1000 unknown kids, want 1", n)
	}

	h.clock.Advance(DefaultJWKSRefetchCooldown - time.Second)
	_, _ = h.call(fakestepup.DemoRead, toks[0])
	if n := h.fake.Calls("GetJwks"); n != 1 {
		t.Fatalf("GetJwks called %d times within the cooldown, want 1", n)
	}
	h.clock.Advance(time.Second)
	_, _ = h.call(fakestepup.DemoRead, toks[0])
	if n := h.fake.Calls("GetJwks"); n != 2 {
		t.Fatalf("GetJwks called %d times after the cooldown, want 2", n)
	}
}

func randomKid(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hostile or broken key sets from stepup are dropped; the last good set stays.
func TestBadKeySetKeepsLastGood(t *testing.T) {
	h := newHarness(t)
	tok := h.fake.Token("u_ann", token.ACR1)
	bad := []string{
		`{"keys":[]}`,
		`not json`,
		`{"keys":[{"kty":"oct","kid":"k","alg":"HS256","k":"c2VjcmV0"}]}`,
		// A private key.
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA",` +
			`"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",` +
			`"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`,
		// A key without alg, which would let the token header choose.
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k",` +
			`"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
	}
	for i, doc := range bad {
		h.fake.PublishJSON(doc)
		waitFor(t, "the rejection", func() bool { return h.logs.count("rejected key set") == i+1 })
		if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
			t.Fatalf("after bad set %d: %v", i, err)
		}
	}
}

// When stepup goes away, verification goes on with the last good set, and a failed
// fetch does not drop it.
func TestStepupDownKeepsLastGood(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.FailOpen = true }))
	tok := h.fake.Token("u_ann", token.ACR1)
	h.stepup.Stop()
	waitFor(t, "the stream to break", func() bool { return !h.v.rev.isLive() })

	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("with stepup down: %v", err)
	}
	stranger := outsider(t, "unknown", h.fake.NewClaims("u_ann", token.ACR1))
	_, err := h.call(fakestepup.DemoRead, stranger)
	wantCode(t, err, codes.Unauthenticated)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("after a failed fetch: %v", err)
	}
}

// A verifier whose key stream cannot open starts from GetJwks.
func TestStartsFromGetJwksWhenWatchFails(t *testing.T) {
	h := newHarness(t, beforeStart(func(h *harness) { h.fake.SetWatchJwksDown(true) }))
	if h.fake.Calls("GetJwks") == 0 {
		t.Fatal("Ready without GetJwks, though WatchJwks is down")
	}
	if _, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1)); err != nil {
		t.Fatal(err)
	}
}

// Without any key set the verifier cannot decide: Unavailable, not Unauthenticated.
func TestNoKeysIsUnavailable(t *testing.T) {
	h := newHarness(t, noWait(), beforeStart(func(h *harness) {
		h.fake.SetWatchJwksDown(true)
		h.fake.SetGetJwksDown(true)
	}))
	_, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1))
	wantCode(t, err, codes.Unavailable)

	h.fake.SetWatchJwksDown(false)
	waitFor(t, "a key set", func() bool { return h.v.keys.Load() != nil })
	if _, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1)); err != nil {
		t.Fatal(err)
	}
}

// A fetch answer that was requested before a push arrived must not undo the push.
func TestSlowFetchDoesNotUndoPush(t *testing.T) {
	h := newHarness(t)
	gen := h.v.startFetch()
	old := h.v.keys.Load()
	kid := h.fake.RotateKey()
	waitFor(t, "the pushed key set", func() bool { return h.hasKid(kid) })
	h.v.installKeys(jwksOf(old), "test_fetch", gen)
	if !h.hasKid(kid) {
		t.Fatal("a stale fetch replaced the pushed key set")
	}
}
