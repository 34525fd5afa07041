package client

import (
	"context"
	"crypto/ed25519"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

// benchCall calls DemoRead with tok as bearer token, failing the benchmark on error.
func benchCall(b *testing.B, conn *grpc.ClientConn, tok string) {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	if _, err := fakestepup.CallDemo(ctx, conn, fakestepup.DemoRead); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBareCall is the baseline: the same unary call over bufconn, with the same
// metadata, and no interceptor.
func BenchmarkBareCall(b *testing.B) {
	clock := fakestepup.NewClock()
	fake := fakestepup.New(clock)
	app := fakestepup.Serve(func() *grpc.Server {
		g := grpc.NewServer()
		fakestepup.RegisterDemo(g, fakestepup.DemoFunc(demoHandler))
		return g
	})
	defer app.Stop()
	conn := mustDial(b, app)
	tok := fake.Token("u_ann", token.ACR1)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		benchCall(b, conn, tok)
	}
}

// BenchmarkInterceptorCold sends a token never seen before on every call, so each is
// verified locally (signature, claims) and then cached.
func BenchmarkInterceptorCold(b *testing.B) {
	h := newHarness(b)
	toks := make([]string, b.N)
	for i := range toks {
		toks[i] = h.fake.Token("u_ann", token.ACR1)
	}
	runtime.GC() // the garbage of signing b.N tokens is not the interceptor's
	b.ReportAllocs()
	b.ResetTimer()
	stop := reportCPU(b)
	for i := 0; i < b.N; i++ {
		benchCall(b, h.appConn, toks[i])
	}
	b.StopTimer()
	stop()
	if n := h.v.verifications.Load(); n != int64(b.N) {
		b.Fatalf("%d verifications for %d fresh tokens", n, b.N)
	}
}

// BenchmarkInterceptorWarm sends the same token on every call: a cache hit, plus the
// revocation and rule checks that run on every call.
func BenchmarkInterceptorWarm(b *testing.B) {
	h := newHarness(b)
	tok := h.fake.Token("u_ann", token.ACR1)
	benchCall(b, h.appConn, tok)
	b.ReportAllocs()
	stop := reportCPU(b)
	for b.Loop() {
		benchCall(b, h.appConn, tok)
	}
	b.StopTimer()
	stop()
	if n := h.v.verifications.Load(); n != 1 {
		b.Fatalf("%d verifications for one token", n)
	}
}

// BenchmarkAuthenticateCold is the verifier's own cost on a fresh token, without gRPC.
func BenchmarkAuthenticateCold(b *testing.B) {
	h := newHarness(b)
	toks := make([]string, b.N)
	for i := range toks {
		toks[i] = h.fake.Token("u_ann", token.ACR1)
	}
	ctx := context.Background()
	runtime.GC() // the garbage of signing b.N tokens is not the interceptor's
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if _, err := h.v.authenticate(ctx, toks[i], Rule{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateWarm is the verifier's own cost on a cached token, without gRPC.
func BenchmarkAuthenticateWarm(b *testing.B) {
	h := newHarness(b)
	tok := h.fake.Token("u_ann", token.ACR1)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := h.v.authenticate(ctx, tok, Rule{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the floor of a cold verification: ed25519.Verify alone
// over a real token's signing input.
func BenchmarkEd25519Verify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	fake := fakestepup.New(fakestepup.NewClock())
	tok := fake.Token("u_ann", token.ACR1)
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	sig := ed25519.Sign(priv, input)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	}
}
