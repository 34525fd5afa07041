// Package chain is an example of service-to-service calls over stepup: three small
// gRPC services, A -> B -> C, each behind client.Verifier's interceptor. A hop
// answers with what its interceptor verified (subject, kind, act chain, caller) and
// the answer of the next hop, so a test can see what each service saw.
//
// The service is described by hand (a grpc.ServiceDesc over well-known protobuf
// types) to keep the example free of generated code; a real service would use a
// .proto file.
package chain

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/stepup/stepup/client"
)

// Full method names of the Hop service.
const (
	// MethodCall handles a user's request and calls the next hop, if any.
	MethodCall = "/stepup.examples.chain.v1.Hop/Call"
	// MethodJob is work that a background job asks for with a service token.
	MethodJob = "/stepup.examples.chain.v1.Hop/Job"
)

// Config configures one hop.
type Config struct {
	// Name is the hop's service name, as registered at stepup.
	Name string
	// Verifier checks incoming tokens; its Audience is what this hop accepts.
	Verifier *client.Verifier
	// Policy is enforced on incoming calls.
	Policy client.Policy
	// Next is the connection to the next hop, nil for the last one. Its interceptors
	// (a client.Propagator or client.Exchanger) decide which token goes there.
	Next grpc.ClientConnInterface
}

// hopServer is the interface grpc.ServiceDesc requires of an implementation.
type hopServer interface {
	call(context.Context, *emptypb.Empty) (*structpb.Struct, error)
	job(context.Context, *emptypb.Empty) (*structpb.Struct, error)
}

// Hop is one service of the chain.
type Hop struct{ cfg Config }

// NewServer returns a gRPC server with the hop registered behind the interceptors.
func NewServer(cfg Config) *grpc.Server {
	g := grpc.NewServer(
		grpc.ChainUnaryInterceptor(cfg.Verifier.UnaryServerInterceptor(cfg.Policy)),
		grpc.ChainStreamInterceptor(cfg.Verifier.StreamServerInterceptor(cfg.Policy)),
	)
	g.RegisterService(&serviceDesc, &Hop{cfg: cfg})
	return g
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "stepup.examples.chain.v1.Hop",
	HandlerType: (*hopServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Call", Handler: handler(MethodCall, hopServer.call)},
		{MethodName: "Job", Handler: handler(MethodJob, hopServer.job)},
	},
}

// handler adapts a method to grpc.MethodDesc, running the server's interceptors.
func handler(full string, m func(hopServer, context.Context, *emptypb.Empty) (*structpb.Struct, error),
) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) {
			return m(srv.(hopServer), ctx, req.(*emptypb.Empty))
		}
		if icpt == nil {
			return h(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
	}
}

// call reports what the interceptor verified and, if there is a next hop, calls it
// with the same context, so the connection's interceptor can pass the user on.
func (h *Hop) call(ctx context.Context, _ *emptypb.Empty) (*structpb.Struct, error) {
	seen, err := h.seen(ctx)
	if err != nil || h.cfg.Next == nil {
		return seen, err
	}
	next, err := Call(ctx, h.cfg.Next, MethodCall)
	if err != nil {
		return nil, err
	}
	seen.Fields["next"] = structpb.NewStructValue(next)
	return seen, nil
}

// job reports who asked for it.
func (h *Hop) job(ctx context.Context, _ *emptypb.Empty) (*structpb.Struct, error) {
	return h.seen(ctx)
}

// seen describes the verified caller.
func (h *Hop) seen(ctx context.Context) (*structpb.Struct, error) {
	c, ok := client.ClaimsFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no verified claims")
	}
	actor := make([]any, len(c.Actor))
	for i, a := range c.Actor {
		actor[i] = a
	}
	return structpb.NewStruct(map[string]any{
		"service":       h.cfg.Name,
		"subject":       c.Subject,
		"service_token": c.IsService(),
		"caller":        client.CallerOf(c),
		"actor":         actor,
	})
}

// Call invokes a Hop method on conn.
func Call(ctx context.Context, conn grpc.ClientConnInterface, method string,
	opts ...grpc.CallOption) (*structpb.Struct, error) {
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, method, &emptypb.Empty{}, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}
