package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/throttle"
	"github.com/stepup/stepup/store"
)

// BenchmarkLoginFailures measures the three failed logins a caller must not be able to
// tell apart, an unknown user, a wrong password and a disabled user, with the real
// argon2id cost, through the public gRPC server. It reports each median latency and
// the ratio of the slowest median to the fastest (1.0 is indistinguishable; the
// reference bound is 0.5-2x over 50 calls). Timing is a benchmark, not a test: on a
// shared 2-core runner a timed assertion would be flaky.
//
//	go test ./server -run '^$' -bench BenchmarkLoginFailures -benchtime 50x
func BenchmarkLoginFailures(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "stepup.db"),
		store.Options{MasterKey: bytes.Repeat([]byte{0x5a}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := New(st, Config{
		// Default argon2id parameters; throttling off, since every call fails.
		LoginThrottle: throttle.Config{Free: 1 << 30},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"alice", "dave"} {
		req := &stepupv1.CreateUserRequest{Username: name, Password: testPassword}
		if _, err := srv.CreateUser(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	dave := &stepupv1.UserRef{Ref: &stepupv1.UserRef_Username{Username: "dave"}}
	if _, err := srv.DisableUser(ctx, &stepupv1.DisableUserRequest{User: dave}); err != nil {
		b.Fatal(err)
	}
	auth := stepupv1.NewAuthServiceClient(fuzzListen(b, srv.NewPublicServer()))

	kinds := []struct {
		name string
		req  *stepupv1.LoginRequest
	}{
		{"unknown", &stepupv1.LoginRequest{Username: "nobody", Password: testPassword}},
		{"wrong_password", &stepupv1.LoginRequest{Username: "alice", Password: "not the password"}},
		{"disabled", &stepupv1.LoginRequest{Username: "dave", Password: testPassword}},
	}
	took := make([][]time.Duration, len(kinds))
	for i := 0; b.Loop(); i++ {
		// Rotate the order so no kind always runs first, on a cold cache.
		for j := range kinds {
			k := (i + j) % len(kinds)
			start := time.Now()
			if _, err := auth.Login(ctx, kinds[k].req); err == nil {
				b.Fatalf("%s: login succeeded", kinds[k].name)
			}
			took[k] = append(took[k], time.Since(start))
		}
	}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for k, kind := range kinds {
		m := median(took[k])
		lo, hi = min(lo, m), max(hi, m)
		b.ReportMetric(float64(m.Microseconds())/1000, kind.name+"_median_ms")
	}
	b.ReportMetric(float64(hi)/float64(lo), "max/min_median_ratio")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
