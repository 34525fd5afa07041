package client

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/stepup/stepup/client/internal/fakestepup"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// transferRule is what the test policy demands of DemoTransfer.
var transferRule = Rule{ACR: token.ACR2, MaxAge: 2 * time.Minute}

// testPolicy: DemoPublic is open, DemoTransfer needs a recent aal2, and DemoRead and
// DemoWatch fall under the default (any valid token).
var testPolicy = Policy{
	Public:  []string{fakestepup.DemoPublic},
	Methods: map[string]Rule{fakestepup.DemoTransfer: transferRule},
}

// fastTuning makes reconnects quick so tests need not wait.
var fastTuning = tuning{
	backoffBase: 2 * time.Millisecond, backoffMax: 20 * time.Millisecond,
	rpcTimeout: 2 * time.Second, pruneEvery: 5 * time.Millisecond, streamCheckEvery: 5 * time.Millisecond,
}

// harness is a fake stepup, a Verifier following it, and the demo service behind the
// verifier's interceptors, all over bufconn with one fake clock.
type harness struct {
	t       testing.TB
	clock   *fakestepup.Clock
	fake    *fakestepup.Server
	stepup  *fakestepup.Endpoint
	conn    *grpc.ClientConn // to stepup
	v       *Verifier
	app     *fakestepup.Endpoint
	appConn *grpc.ClientConn
	logs    *syncBuffer
}

// setup is what options can change before the verifier starts.
type setup struct {
	cfg    Config
	noWait bool           // do not wait for Ready
	before func(*harness) // runs after the fake starts, before the verifier
}

type harnessOpt func(*setup)

// newHarness starts everything and waits until the verifier is ready, unless an
// option says otherwise.
func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, clock: fakestepup.NewClock(), logs: &syncBuffer{}}
	h.fake, h.stepup = fakestepup.Start(h.clock)
	t.Cleanup(h.stepup.Stop)
	h.conn = mustDial(t, h.stepup)
	su := setup{cfg: Config{
		Conn: h.conn, Issuer: fakestepup.Issuer, Audience: fakestepup.DemoAud,
		Now:    h.clock.Now,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		tuning: fastTuning,
	}}
	for _, o := range opts {
		o(&su)
	}
	if su.before != nil {
		su.before(h)
	}
	h.startVerifier(su.cfg, !su.noWait)
	h.startApp(testPolicy)
	return h
}

func (h *harness) startVerifier(cfg Config, wait bool) {
	h.t.Helper()
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { v.Close() })
	h.v = v
	if !wait {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		h.t.Fatalf("Ready: %v", err)
	}
}

// startApp serves the demo service behind the verifier's interceptors. Its handlers
// answer "public" without claims and "<sub> <acr>" with them.
func (h *harness) startApp(p Policy) {
	h.app = fakestepup.Serve(func() *grpc.Server {
		g := grpc.NewServer(
			grpc.ChainUnaryInterceptor(h.v.UnaryServerInterceptor(p)),
			grpc.ChainStreamInterceptor(h.v.StreamServerInterceptor(p)),
		)
		fakestepup.RegisterDemo(g, fakestepup.DemoFunc(demoHandler))
		return g
	})
	h.t.Cleanup(h.app.Stop)
	h.appConn = mustDial(h.t, h.app)
}

func demoHandler(ctx context.Context, _ string) (string, error) {
	c, ok := ClaimsFromContext(ctx)
	if !ok {
		return "public", nil
	}
	return c.Subject + " " + c.ACR, nil
}

func mustDial(t testing.TB, ep *fakestepup.Endpoint) *grpc.ClientConn {
	t.Helper()
	conn, err := ep.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withConfig(f func(*Config)) harnessOpt { return func(s *setup) { f(&s.cfg) } }

// noWait starts the verifier without waiting for Ready.
func noWait() harnessOpt { return func(s *setup) { s.noWait = true } }

// beforeStart runs f on the harness before the verifier starts.
func beforeStart(f func(*harness)) harnessOpt { return func(s *setup) { s.before = f } }

// call calls a demo method on the app with tok as bearer token ("" for none).
func (h *harness) call(method, tok string) (string, error) {
	md := metadata.MD{}
	if tok != "" {
		md.Set("authorization", "Bearer "+tok)
	}
	return h.callMD(method, md)
}

func (h *harness) callMD(method string, md metadata.MD) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, md)
	if method == fakestepup.DemoWatch {
		return fakestepup.WatchDemo(ctx, h.appConn)
	}
	return fakestepup.CallDemo(ctx, h.appConn, method)
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hasKid reports whether the verifier's current key set holds kid.
func (h *harness) hasKid(kid string) bool {
	ks := h.v.keys.Load()
	if ks == nil {
		return false
	}
	_, ok := ks.set.Lookup(kid)
	return ok
}

// wantCode fails unless err has code c; for Unauthenticated it also checks the fixed
// message, so no rejection can say more than that.
func wantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != c {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), c)
	}
	if c == codes.Unauthenticated && st.Message() != "invalid or expired access token" {
		t.Fatalf("message = %q, want the fixed one", st.Message())
	}
}

// wantStepUp fails unless err is exactly token.StepUpError(r): same code, message
// and details. Details are compared unpacked, since ErrorInfo's metadata map has no
// fixed wire order.
func wantStepUp(t testing.TB, err error, r Rule) {
	t.Helper()
	got, want := status.Convert(err), status.Convert(token.StepUpError(r))
	if got.Code() != want.Code() || got.Message() != want.Message() ||
		len(got.Details()) != len(want.Details()) {
		t.Fatalf("error = %v, want the step-up error for %+v", err, r)
	}
	for i, d := range got.Details() {
		gm, ok1 := d.(proto.Message)
		wm, ok2 := want.Details()[i].(proto.Message)
		if !ok1 || !ok2 || !proto.Equal(gm, wm) {
			t.Fatalf("detail %d = %v, want %v", i, d, want.Details()[i])
		}
	}
	if parsed, ok := token.ParseStepUpError(err); !ok || parsed != r {
		t.Fatalf("ParseStepUpError = %+v, %v; want %+v", parsed, ok, r)
	}
}

// syncBuffer is a log sink tests can read while goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(substr string) int { return strings.Count(b.String(), substr) }

func jwksOf(ks *keyState) *stepupv1.JwkSet { return &stepupv1.JwkSet{Json: ks.json} }
