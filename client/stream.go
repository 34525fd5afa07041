package client

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"

	"github.com/stepup/stepup/token"
)

// errStreamTokenEnded is the cause of a guarded stream's context once its token has
// expired or been revoked.
var errStreamTokenEnded = errors.New("client: the stream's token expired or was revoked")

// guardStream wraps a stream handler so that the stream's context ends when its token
// expires or is revoked. A stream is authenticated once, when it opens; without this a
// long-lived stream would outlive the token that opened it. Handlers see the end as
// ctx.Done() on stream.Context(), with context.Cause errStreamTokenEnded.
func (v *Verifier) guardStream(h grpc.StreamHandler) grpc.StreamHandler {
	return func(srv any, ss grpc.ServerStream) error {
		c, ok := ClaimsFromContext(ss.Context())
		if !ok { // a public method: nothing to guard
			return h(srv, ss)
		}
		ctx, cancel := context.WithCancelCause(ss.Context())
		defer cancel(nil)
		go v.watchStreamToken(ctx, cancel, c)
		return h(srv, &guardedStream{ServerStream: ss, ctx: ctx})
	}
}

// watchStreamToken cancels the stream once its token is past exp plus the leeway or
// is revoked, checking every streamCheckEvery on the verifier's clock.
func (v *Verifier) watchStreamToken(ctx context.Context, cancel context.CancelCauseFunc, c *token.Claims) {
	t := time.NewTicker(v.cfg.tuning.streamCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := v.cfg.Now()
			if now.After(c.Expiry.Add(v.cfg.Leeway)) || v.streamRevoked(c, now) {
				v.cfg.Logger.Debug("ending stream: token expired or revoked", logTokenID, c.ID)
				cancel(errStreamTokenEnded)
				return
			}
		}
	}
}

// streamRevoked applies the revocations a unary call would meet. Only Local mode keeps a
// revocation list; a Remote verifier checked with stepup when the stream opened and
// re-checks expiry only.
func (v *Verifier) streamRevoked(c *token.Claims, now time.Time) bool {
	if v.cfg.Mode != Local {
		return false
	}
	return v.checkRevocation(c, now) != nil || v.rev.actorRevoked(c)
}

// guardedStream is a ServerStream with the guarded context.
type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }
