package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stepup/stepup/client/internal/fakestepup"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// openStream starts a long-lived stream behind h's interceptor: its handler runs until
// its context ends and answers Unauthenticated only if the guard ended it. It returns
// the claims the handler saw and the channel the call's result arrives on.
func openStream(t *testing.T, h *harness) (*token.Claims, <-chan error) {
	t.Helper()
	opened := make(chan *token.Claims, 1)
	app := fakestepup.Serve(func() *grpc.Server {
		g := grpc.NewServer(grpc.ChainStreamInterceptor(h.v.StreamServerInterceptor(testPolicy)))
		fakestepup.RegisterDemo(g, fakestepup.DemoFunc(func(ctx context.Context, _ string) (string, error) {
			c, _ := ClaimsFromContext(ctx)
			opened <- c
			<-ctx.Done()
			if errors.Is(context.Cause(ctx), errStreamTokenEnded) {
				return "", status.Error(codes.Unauthenticated, "token ended")
			}
			return "", status.Error(codes.Internal, "stream ended for another reason")
		}))
		return g
	})
	t.Cleanup(app.Stop)
	conn := mustDial(t, app)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+h.fake.Token("u_ann", token.ACR1))
	done := make(chan error, 1)
	go func() { _, err := fakestepup.WatchDemo(ctx, conn); done <- err }()
	return <-opened, done
}

// stillOpen fails the test if the stream ends within a few guard periods.
func stillOpen(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("stream ended while its token was still good: %v", err)
	case <-time.After(20 * fastTuning.streamCheckEvery):
	}
}

// TestStreamEndsWithItsToken: a stream is authenticated when it opens, and its context
// ends when the token expires or is revoked, so a long-lived stream cannot outlive it.
func TestStreamEndsWithItsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []harnessOpt
		end  func(h *harness, c *token.Claims)
	}{
		{"expiry", nil, func(h *harness, c *token.Claims) {
			h.clock.Advance(c.Expiry.Sub(h.clock.Now()) + time.Minute + time.Second)
		}},
		{"revocation", nil, func(h *harness, c *token.Claims) {
			h.fake.Push(&stepupv1.WatchRevocationsResponse{EndedSessions: []*stepupv1.EndedSession{{
				SessionId: c.SessionID, RelevantUntil: timestamppb.New(c.Expiry.Add(time.Hour))}}})
		}},
		{"expiry in remote mode", []harnessOpt{remote()}, func(h *harness, c *token.Claims) {
			h.clock.Advance(c.Expiry.Sub(h.clock.Now()) + time.Minute + time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts...)
			c, done := openStream(t, h)
			stillOpen(t, done)
			tc.end(h, c)
			if err := <-done; status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream after its token ended: %v", err)
			}
		})
	}
}
