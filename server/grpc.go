package server

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// Transport limits. Every request stepup serves is small, so the limits are tight: a
// 64 KiB message bound (grpc-go's default is 4 MiB, and generated handlers decode before
// any interceptor runs) and a 16 KiB header list (grpc-go's default is 16 MiB).
const (
	MaxRecvMsgSize       = 64 << 10
	MaxHeaderListSize    = 16 << 10
	MaxConcurrentStreams = 128
)

// transportOptions bounds what one client can make the server hold.
func transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute}),
	}
}

// NewPublicServer returns a gRPC server with AuthService, AccountService, health and
// reflection registered. Every method outside the public list needs a bearer token.
func (s *Server) NewPublicServer(opts ...grpc.ServerOption) *grpc.Server {
	panics := recovery.WithRecoveryHandlerContext(s.recovered)
	opts = append(transportOptions(), opts...)
	opts = append(opts,
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(panics),
			auth.UnaryServerInterceptor(s.authFunc),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(panics),
			auth.StreamServerInterceptor(s.authFunc),
		),
	)
	g := grpc.NewServer(opts...)
	stepupv1.RegisterAuthServiceServer(g, s)
	stepupv1.RegisterAccountServiceServer(g, s)
	registerCommon(g, stepupv1.AuthService_ServiceDesc.ServiceName,
		stepupv1.AccountService_ServiceDesc.ServiceName)
	return g
}

// NewAdminServer returns a gRPC server with AdminService, health and reflection. It
// must only listen on the Unix socket whose file mode keeps other accounts out.
func (s *Server) NewAdminServer(opts ...grpc.ServerOption) *grpc.Server {
	panics := recovery.WithRecoveryHandlerContext(s.recovered)
	opts = append(transportOptions(), opts...)
	opts = append(opts,
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(panics)),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(panics)),
	)
	g := grpc.NewServer(opts...)
	stepupv1.RegisterAdminServiceServer(g, s)
	registerCommon(g, stepupv1.AdminService_ServiceDesc.ServiceName)
	return g
}

func registerCommon(g *grpc.Server, services ...string) {
	hs := health.NewServer()
	for _, name := range services {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
}

// recovered turns a handler panic into Internal without leaking the panic value, which
// could hold request data.
func (s *Server) recovered(ctx context.Context, p any) error {
	method, _ := grpc.Method(ctx)
	cause := fmt.Sprintf("%T", p)
	if re, ok := p.(runtime.Error); ok {
		cause = re.Error()
	}
	s.log.ErrorContext(ctx, "handler panic", "method", method, logErr, cause, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}
