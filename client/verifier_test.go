package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

// Every bad setting is reported at once.
func TestNewVerifierReportsAllProblems(t *testing.T) {
	_, err := NewVerifier(context.Background(), Config{
		Mode: Mode(7), Leeway: time.Hour, RevocationStaleAfter: -1,
	})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"Conn", "Issuer", "Audience", "Mode", "Leeway", "RevocationStaleAfter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

// Close ends the streams at stepup; afterwards the verifier answers Unavailable and
// Ready reports ErrClosed.
func TestClose(t *testing.T) {
	h := newHarness(t)
	tok := h.fake.Token("u_ann", token.ACR1)
	if _, err := h.call(fakestepup.DemoRead, tok); err != nil {
		t.Fatal(err)
	}
	if err := h.v.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the streams to end", func() bool { return h.fake.RevocationStreams() == 0 })
	_, err := h.call(fakestepup.DemoRead, tok)
	wantCode(t, err, codes.Unavailable)
	if err := h.v.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v", err)
	}
	if err := h.v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Cancelling NewVerifier's context also stops the streams.
func TestContextStopsVerifier(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	v, err := NewVerifier(ctx, h.v.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if h.fake.RevocationStreams() != 2 {
		t.Fatalf("%d revocation streams, want 2", h.fake.RevocationStreams())
	}
	cancel()
	waitFor(t, "the stream to end", func() bool { return h.fake.RevocationStreams() == 1 })
}

func TestBackoff(t *testing.T) {
	b := newBackoff(tuning{backoffBase: 100 * time.Millisecond, backoffMax: time.Second})
	var last time.Duration
	for i := range 10 {
		d := b.next()
		if d < b.cur/2 || d > b.cur || b.cur > time.Second {
			t.Fatalf("step %d: wait %v for step %v", i, d, b.cur)
		}
		last = b.cur
	}
	if last != time.Second {
		t.Fatalf("back-off did not reach its cap: %v", last)
	}
	b.reset()
	if b.next() > 100*time.Millisecond {
		t.Fatal("reset did not start over")
	}
}
