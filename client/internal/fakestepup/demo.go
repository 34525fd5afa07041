package fakestepup

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The demo service, a stand-in for a service that embeds the interceptor. Every
// method takes and returns a google.protobuf.StringValue.
const (
	DemoService  = "stepup.demo.Demo"
	DemoPublic   = "/stepup.demo.Demo/Public"   // unary, meant to be public
	DemoRead     = "/stepup.demo.Demo/Read"     // unary, meant for any valid token
	DemoTransfer = "/stepup.demo.Demo/Transfer" // unary, meant for a recent aal2
	DemoWatch    = "/stepup.demo.Demo/Watch"    // server streaming, one message
)

// DemoServer handles every demo method; method is the full method name.
type DemoServer interface {
	Handle(ctx context.Context, method string) (string, error)
}

// DemoFunc adapts a function to DemoServer.
type DemoFunc func(ctx context.Context, method string) (string, error)

// Handle implements DemoServer.
func (f DemoFunc) Handle(ctx context.Context, method string) (string, error) {
	return f(ctx, method)
}

// RegisterDemo adds the demo service to g.
func RegisterDemo(g *grpc.Server, srv DemoServer) { g.RegisterService(&demoDesc, srv) }

var demoWatchDesc = grpc.StreamDesc{StreamName: "Watch", Handler: demoStream, ServerStreams: true}

var demoDesc = grpc.ServiceDesc{
	ServiceName: DemoService,
	HandlerType: (*DemoServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Public", Handler: demoUnary(DemoPublic)},
		{MethodName: "Read", Handler: demoUnary(DemoRead)},
		{MethodName: "Transfer", Handler: demoUnary(DemoTransfer)},
	},
	Streams: []grpc.StreamDesc{demoWatchDesc},
}

func demoUnary(full string) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error,
		icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, _ any) (any, error) {
			out, err := srv.(DemoServer).Handle(ctx, full)
			if err != nil {
				return nil, err
			}
			return wrapperspb.String(out), nil
		}
		if icpt == nil {
			return h(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
	}
}

func demoStream(srv any, stream grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	out, err := srv.(DemoServer).Handle(stream.Context(), DemoWatch)
	if err != nil {
		return err
	}
	return stream.SendMsg(wrapperspb.String(out))
}

// CallDemo calls a unary demo method and returns its answer.
func CallDemo(ctx context.Context, cc grpc.ClientConnInterface, method string,
	opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, method, wrapperspb.String(""), out, opts...); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// WatchDemo opens the Watch stream and returns its one message.
func WatchDemo(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cc.NewStream(ctx, &demoWatchDesc, DemoWatch, opts...)
	if err != nil {
		return "", err
	}
	if err := stream.SendMsg(wrapperspb.String("")); err != nil {
		return "", err
	}
	if err := stream.CloseSend(); err != nil {
		return "", err
	}
	out := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}
