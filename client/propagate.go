package client

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type rawTokenKey struct{}

// TokenFromContext returns the bearer token of the caller exactly as it arrived, once
// the interceptor verified it. ok is false where ClaimsFromContext's is. It is meant
// for Propagator and Exchanger; a handler should not log or store it.
func TokenFromContext(ctx context.Context) (string, bool) {
	raw, ok := ctx.Value(rawTokenKey{}).(string)
	return raw, ok && raw != ""
}

// errNotForTarget refuses to forward a token whose aud does not name the target.
var errNotForTarget = status.Error(codes.FailedPrecondition,
	"the caller's token is not meant for this target; exchange it instead")

// Propagator forwards the caller's verified token on outgoing calls to one target.
// Install its interceptors on the connection to that target only: forwarding is
// opt-in per target. A token whose aud does not name the target's audience is never
// sent; the call fails with FailedPrecondition instead. Calls whose context carries no
// verified token (a background job) go out unchanged.
//
// Forwarding gives the target the very token the caller holds, which it can replay
// anywhere that audience is accepted; Exchanger gives it a token for itself alone.
type Propagator struct {
	audience string
}

// NewPropagator returns a Propagator for a target that accepts tokens for audience
// (the target's client.Config.Audience).
func NewPropagator(audience string) *Propagator { return &Propagator{audience: audience} }

// outgoing attaches the incoming token to ctx if it is meant for the target.
func (p *Propagator) outgoing(ctx context.Context) (context.Context, error) {
	raw, ok := TokenFromContext(ctx)
	if !ok {
		return ctx, nil
	}
	c, _ := ClaimsFromContext(ctx)
	if c == nil || !slices.Contains(c.Audience, p.audience) {
		return nil, errNotForTarget
	}
	return withBearer(ctx, raw), nil
}

// UnaryClientInterceptor forwards the token on unary calls.
func (p *Propagator) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return unaryWith(p.outgoing)
}

// StreamClientInterceptor forwards the token on streaming calls.
func (p *Propagator) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return streamWith(p.outgoing)
}

// withBearer replaces any authorization in ctx's outgoing metadata with raw.
func withBearer(ctx context.Context, raw string) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(authorization, "Bearer "+raw)
	return metadata.NewOutgoingContext(ctx, md)
}

// unaryWith and streamWith run prepare on the context of each outgoing call.
func unaryWith(prepare func(context.Context) (context.Context, error)) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, err := prepare(ctx)
		if err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func streamWith(prepare func(context.Context) (context.Context, error)) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, err := prepare(ctx)
		if err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}
