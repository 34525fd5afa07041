package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/stepup/stepup/client"
	"github.com/stepup/stepup/token"
)

// probeService is the service the interceptor guards in these tests: one method per
// requirement in the hostile table, each answering an empty message.
const probeService = "stepup.e2e.Probe"

// probe is a service guarded by the client package's interceptor, as a relying party
// would run it, listening on TCP.
type probe struct {
	conn      *grpc.ClientConn
	methods   map[client.Rule]string // requirement -> full method name
	intercept grpc.UnaryServerInterceptor
}

// newProbe starts the guarded service with a verifier in mode that reaches k's daemon
// through conn.
func newProbe(t *testing.T, k *kit, mode client.Mode, conn grpc.ClientConnInterface) *probe {
	t.Helper()
	v, err := client.NewVerifier(context.Background(), client.Config{
		Conn:     conn,
		Issuer:   "stepup",
		Audience: "stepup",
		Mode:     mode,
		Now:      k.e.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Ready(ctx(t)); err != nil {
		t.Fatalf("verifier not ready: %v", err)
	}

	p := &probe{methods: map[client.Rule]string{}}
	desc := &grpc.ServiceDesc{ServiceName: probeService, HandlerType: (*any)(nil)}
	policy := client.Policy{Methods: map[string]client.Rule{}}
	for _, tc := range hostileCases() {
		rule := client.Rule{ACR: tc.acr, MaxAge: tc.maxAge}
		if _, ok := p.methods[rule]; ok {
			continue
		}
		name := fmt.Sprintf("Rule%d", len(p.methods))
		full := "/" + probeService + "/" + name
		p.methods[rule] = full
		policy.Methods[full] = rule
		desc.Methods = append(desc.Methods, probeMethod(name, full))
	}

	p.intercept = v.UnaryServerInterceptor(policy)
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(p.intercept))
	g.RegisterService(desc, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	p.conn = dial(t, lis.Addr().String())
	return p
}

// probeMethod is a unary method that goes through the interceptor and returns Empty.
func probeMethod(name, full string) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context,
		dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil }
		if icpt == nil {
			return h(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
	}}
}

// call presents tok on the method that demands rule.
func (p *probe) call(t *testing.T, tok string, rule client.Rule) error {
	if !printableASCII(tok) {
		return p.callDirect(t, tok, rule)
	}
	c := metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer "+tok)
	return p.conn.Invoke(c, p.methods[rule], &emptypb.Empty{}, &emptypb.Empty{})
}

// callDirect hands tok to the interceptor as incoming metadata without a transport.
// grpc-go's client refuses to send a header value outside printable ASCII, but
// another client, or a proxy, may not.
func (p *probe) callDirect(t *testing.T, tok string, rule client.Rule) error {
	method := p.methods[rule]
	c := metadata.NewIncomingContext(ctx(t), metadata.Pairs("authorization", "Bearer "+tok))
	c = grpc.NewContextWithServerTransportStream(c, methodStream(method))
	_, err := p.intercept(c, &emptypb.Empty{}, &grpc.UnaryServerInfo{Server: struct{}{}, FullMethod: method},
		func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil })
	return err
}

// methodStream is the least of a server transport stream: it names the method, which
// is what grpc.Method reads.
type methodStream string

func (m methodStream) Method() string             { return string(m) }
func (methodStream) SetHeader(metadata.MD) error  { return nil }
func (methodStream) SendHeader(metadata.MD) error { return nil }
func (methodStream) SetTrailer(metadata.MD) error { return nil }

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// interceptorRow calls the guarded method until it gives the row's answer or five
// seconds pass: the local verifier learns of revocations and key changes through
// stepup's streams, a moment after stepup itself.
func interceptorRow(p *probe, want func(hostileCase) codes.Code) hostileRunner {
	return func(t *testing.T, _ *kit, tc hostileCase, tok string) {
		rule := client.Rule{ACR: tc.acr, MaxAge: tc.maxAge}
		deadline := time.Now().Add(5 * time.Second)
		var err error
		for {
			err = p.call(t, tok, rule)
			if status.Code(err) == want(tc) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := status.Code(err); got != want(tc) {
			t.Fatalf("interceptor answered %v (%v), want %v", got, err, want(tc))
		}
		if r, ok := token.ParseStepUpError(err); ok != tc.stepUp || (ok && r != rule) {
			t.Fatalf("step-up challenge %v (%+v), want %v", ok, r, tc.stepUp)
		}
	}
}

// TestHostileTokensInterceptor presents every hostile token to a service guarded by
// the client interceptor in Local mode: keys from WatchJwks, revocations from
// WatchRevocations, token rules from package token.
func TestHostileTokensInterceptor(t *testing.T) {
	runHostile(t, func(t *testing.T, k *kit) hostileRunner {
		return interceptorRow(newProbe(t, k, client.Local, k.e.public), func(tc hostileCase) codes.Code {
			return tc.interceptor
		})
	})
}

// TestHostileTokensInterceptorRemote does the same in Remote mode, where the
// interceptor asks ValidateToken: its answer follows stepup's verdict, so tokens only
// stepup's stored state can refuse are refused here too.
func TestHostileTokensInterceptorRemote(t *testing.T) {
	runHostile(t, func(t *testing.T, k *kit) hostileRunner {
		return interceptorRow(newProbe(t, k, client.Remote, k.e.public), remoteAnswer)
	})
}

// remoteAnswer is what the interceptor in Remote mode must answer: OK for a valid
// verdict, UNAUTHENTICATED (with the step-up challenge where the row has one) for any
// other, and for a token too large to send to stepup, UNAUTHENTICATED as well.
func remoteAnswer(tc hostileCase) codes.Code {
	if tc.want == vOK {
		return codes.OK
	}
	return codes.Unauthenticated
}

// TestInterceptorUnknownKidFlood: a thousand tokens with random kids cost at most one
// GetJwks call per refetch cooldown, so an attacker cannot turn the verifier against
// stepup (RFC 8725 §3.10: kid only ever selects among known keys).
func TestInterceptorUnknownKidFlood(t *testing.T) {
	k := newKit(t)
	conn := &countingConn{ClientConnInterface: k.e.public}
	p := newProbe(t, k, client.Local, conn)
	before := conn.calls.Load()
	for i := range 1000 {
		evil := k.foreign(k.alg(), fmt.Sprintf("kid-%d-%s", i, randomID(t)))
		tok := signWith(k, evil, hdr("alg", k.alg(), "kid", evil.ID, "typ", token.Type), k.payload())
		if err := p.call(t, tok, client.Rule{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	n := conn.calls.Load() - before
	t.Logf("GetJwks calls during the flood: %d", n)
	if n > 1 {
		t.Fatalf("1000 unknown kids caused %d GetJwks calls, want at most 1", n)
	}
	if err := p.call(t, k.realToken(), client.Rule{}); err != nil {
		t.Fatalf("a real token after the flood: %v", err)
	}
}

// countingConn counts the unary calls a verifier makes to stepup: GetJwks is its only
// one in Local mode.
type countingConn struct {
	grpc.ClientConnInterface
	calls atomic.Int64
}

func (c *countingConn) Invoke(ctx context.Context, method string, args, reply any,
	opts ...grpc.CallOption) error {
	c.calls.Add(1)
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}
