package client

import (
	"context"
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

// TestStreamEndsWithItsToken: a stream is authenticated when it opens, and its context
// ends when the token expires or is revoked, so a long-lived stream cannot outlive it.
func TestStreamEndsWithItsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(h *harness, c *token.Claims)
	}{
		{"expiry", func(h *harness, c *token.Claims) {
			h.clock.Advance(c.Expiry.Sub(h.clock.Now()) + time.Minute + time.Second)
		}},
		{"revocation", func(h *harness, c *token.Claims) {
			h.fake.Push(&stepupv1.WatchRevocationsResponse{EndedSessions: []*stepupv1.EndedSession{{
				SessionId: c.SessionID, RelevantUntil: timestamppb.New(c.Expiry.Add(time.Hour))}}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			opened := make(chan *token.Claims, 1)
			app := fakestepup.Serve(func() *grpc.Server {
				g := grpc.NewServer(grpc.ChainStreamInterceptor(h.v.StreamServerInterceptor(testPolicy)))
				fakestepup.RegisterDemo(g, fakestepup.DemoFunc(func(ctx context.Context, _ string) (string, error) {
					c, _ := ClaimsFromContext(ctx)
					opened <- c
					<-ctx.Done() // a long-lived stream: runs until its context ends
					return "", status.Error(codes.Unauthenticated, context.Cause(ctx).Error())
				}))
				return g
			})
			t.Cleanup(app.Stop)
			conn := mustDial(t, app)

			tok := h.fake.Token("u_ann", token.ACR1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
			done := make(chan error, 1)
			go func() { _, err := fakestepup.WatchDemo(ctx, conn); done <- err }()

			c := <-opened
			tc.end(h, c)
			err := <-done
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream after its token ended: %v", err)
			}
		})
	}
}
