package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

func TestCacheHitSkipsVerification(t *testing.T) {
	h := newHarness(t)
	tok := h.fake.Token("u_ann", token.ACR1)
	for range 20 {
		if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.v.verifications.Load(); n != 1 {
		t.Fatalf("%d verifications for 20 calls with one token, want 1", n)
	}
}

// A cached token still expires at exp plus leeway.
func TestCacheHitStillExpires(t *testing.T) {
	h := newHarness(t)
	c := h.fake.NewClaims("u_ann", token.ACR1)
	tok := h.fake.Sign(c)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(c.Expiry.Add(DefaultLeeway - time.Second))
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("just before exp+leeway: %v", err)
	}
	if n := h.v.verifications.Load(); n != 1 {
		t.Fatalf("%d verifications, want 1 (a cache hit)", n)
	}
	h.clock.Set(c.Expiry.Add(DefaultLeeway + time.Second))
	_, err := h.call(fakestepup.DemoRead, tok)
	wantCode(t, err, codes.Unauthenticated)
	if h.v.cache.len() != 0 {
		t.Fatal("the expired entry is still cached")
	}
}

// A cached token stops working once its key is no longer published, and survives a
// rotation that keeps its key.
func TestCacheFollowsKeySet(t *testing.T) {
	h := newHarness(t)
	oldKid := h.fake.KeyID()
	tok := h.fake.Token("u_ann", token.ACR1)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatal(err)
	}
	newKid := h.fake.RotateKey()
	waitFor(t, "the new key", func() bool { return h.hasKid(newKid) })
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatalf("after adding a key: %v", err)
	}
	if n := h.v.verifications.Load(); n != 1 {
		t.Fatalf("%d verifications, want 1 (a cache hit across the rotation)", n)
	}
	h.fake.RemoveKey(oldKid)
	waitFor(t, "the old key's removal", func() bool { return !h.hasKid(oldKid) })
	_, err := h.call(fakestepup.DemoRead, tok)
	wantCode(t, err, codes.Unauthenticated)
}

// A kid that comes back with another key does not revive cached tokens of the old one.
func TestCacheKidReusedForAnotherKey(t *testing.T) {
	h := newHarness(t)
	c := h.fake.NewClaims("u_ann", token.ACR1)
	raw := h.fake.Sign(c)
	ks := h.v.keys.Load()
	entry := h.v.newEntry(ks, raw, c)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := token.NewKeySet(token.Key{ID: entry.kid, Alg: token.AlgEdDSA, Public: pub})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(set)
	other, err := h.v.newKeyState(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if keyStillPublished(entry, other) {
		t.Fatal("a different key under the same kid counts as the same key")
	}
	if !keyStillPublished(entry, ks) {
		t.Fatal("the original set does not hold the entry's key")
	}
}

func TestCacheBounded(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.CacheSize = 10 }))
	for range 50 {
		if _, err := h.call(fakestepup.DemoRead, h.fake.Token("u_ann", token.ACR1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.v.cache.len(); n != 10 {
		t.Fatalf("cache holds %d entries, want 10", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.CacheSize = -1 }))
	tok := h.fake.Token("u_ann", token.ACR1)
	for range 3 {
		if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.v.verifications.Load(); n != 3 {
		t.Fatalf("%d verifications with the cache off, want 3", n)
	}
}
