package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/token"
)

// TestJWKSForOtherLibraries: the HTTP JWK Set is accepted by golang-jwt with keyfunc, a
// JWT stack independent of ours, and served with cache headers.
func TestJWKSForOtherLibraries(t *testing.T) {
	e := &env{t: t, clock: newClock(), dataDir: t.TempDir()}
	e.bootWith(func(o *daemon.Options) { o.HTTPListen = "127.0.0.1:0" })
	e.createUser("erin", alicePassword)
	tok := e.login("erin", alicePassword).GetAccessToken()

	url := "http://" + e.d.HTTPAddr() + server.JWKSPath
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/jwk-set+json" ||
		cc != "public, max-age=300" || resp.Header.Get("ETag") == "" {
		t.Fatalf("headers: Content-Type %q, Cache-Control %q, ETag %q", ct, cc, resp.Header.Get("ETag"))
	}
	if strings.Contains(string(body), `"d"`) {
		t.Fatal("JWK Set contains private key material")
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if again, err := http.DefaultClient.Do(req); err != nil || again.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %v %v", again, err)
	}

	kf, err := keyfunc.NewDefaultCtx(ctx(t), []string{url})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, kf.Keyfunc, jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer("stepup"), jwt.WithAudience("stepup"), jwt.WithTimeFunc(e.clock.Now))
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejected a stepup token: %v", err)
	}
	if sub, _ := parsed.Claims.GetSubject(); !strings.HasPrefix(sub, "u_") {
		t.Fatalf("sub %q", sub)
	}

	// The gRPC form carries the same document.
	grpcSet, err := e.auth.GetJwks(ctx(t), &stepupv1.GetJwksRequest{})
	if err != nil || grpcSet.GetJwks().GetJson() != string(body) || len(grpcSet.GetJwks().GetKeys()) != 2 {
		t.Fatalf("GetJwks: %v %v", grpcSet, err)
	}
}

// TestRotationUnderLoad rotates the signing key every second while tokens are issued
// and validated continuously, both by ValidateToken and by a local verifier fed by
// WatchJwks, and requires zero failures for tokens that had not expired. It runs on the
// real clock: the key schedule is the thing under test.
func TestRotationUnderLoad(t *testing.T) {
	e := &env{t: t, clock: nil, dataDir: t.TempDir()}
	e.bootWith(func(o *daemon.Options) {
		o.Server.Now = nil // real time
		o.Server.KeyRotationPeriod = time.Second
		o.Server.JWKSCacheTTL = 400 * time.Millisecond
		o.Server.KeyCheckInterval = 50 * time.Millisecond
		o.Server.AccessTokenTTL = 10 * time.Second
		o.Server.StepUpTokenTTL = 5 * time.Second
		o.Server.Leeway = time.Second
	})
	e.createUser("frank", alicePassword)
	local := watchKeys(t, e)
	// cached behaves like a relying party that refetches the set only when its cached
	// copy is about JWKSCacheTTL old: it passes only if keys are published that long
	// before they sign. (It polls a little early so ticker jitter cannot fail the test.)
	cached := pollKeys(t, e, runCtxFor(t, 5*time.Second), 300*time.Millisecond)

	var (
		mu     sync.Mutex
		tokens []string
		kids   = map[string]bool{}
	)
	runCtx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // issuer
		defer wg.Done()
		for runCtx.Err() == nil {
			resp, err := e.auth.Login(ctx(t), &stepupv1.LoginRequest{Username: "frank", Password: alicePassword})
			if err != nil {
				t.Errorf("login: %v", err)
				return
			}
			mu.Lock()
			tokens = append(tokens, resp.GetAccessToken())
			mu.Unlock()
		}
	}()
	var checks, failures atomic.Int64
	validate := func(tok string) {
		checks.Add(1)
		v, err := e.auth.ValidateToken(ctx(t), &stepupv1.ValidateTokenRequest{Token: tok})
		if err != nil || !v.GetValid() {
			failures.Add(1)
			t.Errorf("ValidateToken during rotation: %v %v", v.GetReason(), err)
		}
		if _, err := cached.verifier.Verify(tok); err != nil {
			failures.Add(1)
			t.Errorf("verify with a cached key set during rotation: %v", err)
		}
		if _, err := local.verifier.Verify(tok); err != nil {
			failures.Add(1)
			t.Errorf("local verify during rotation: %v", err)
			return
		}
		mu.Lock()
		kids[local.kidOf(tok)] = true
		mu.Unlock()
	}
	for runCtx.Err() == nil {
		mu.Lock()
		batch := append([]string(nil), tokens...)
		mu.Unlock()
		for _, tok := range batch { // every token issued so far is younger than its TTL
			validate(tok)
		}
		// On-demand rotations on top of the schedule: each must still wait until the
		// next key has been published for a cache period.
		if _, err := e.admin.RotateSigningKey(ctx(t), &stepupv1.RotateSigningKeyRequest{}); err != nil {
			t.Errorf("RotateSigningKey: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d tokens, %d checks, %d failures, %d signing keys seen", len(tokens), checks.Load(), failures.Load(), len(kids))
	if len(kids) < 5 {
		t.Fatalf("only %d signing keys signed tokens; rotation did not happen", len(kids))
	}
}

// keyWatcher keeps a local token.Verifier fed by AuthService.WatchJwks, as an embedded
// verifier does.
type keyWatcher struct {
	verifier *token.Verifier
	set      atomic.Pointer[token.KeySet]
}

func (w *keyWatcher) kidOf(tok string) string {
	header, _, _ := strings.Cut(tok, ".")
	return header // distinct per key: the header holds the kid and nothing else varies
}

func watchKeys(t *testing.T, e *env) *keyWatcher {
	t.Helper()
	w := &keyWatcher{}
	stream, err := e.auth.WatchJwks(ctx(t), &stepupv1.WatchJwksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := token.ParseJWKS([]byte(first.GetJwks().GetJson()))
	if err != nil {
		t.Fatal(err)
	}
	w.set.Store(set)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if set, err := token.ParseJWKS([]byte(msg.GetJwks().GetJson())); err == nil {
				w.set.Store(set)
			}
		}
	}()
	w.verifier, err = token.NewVerifier(token.VerifierConfig{
		Issuer: "stepup", Audience: "stepup", Leeway: time.Second, Keys: w.set.Load,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func runCtxFor(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// pollKeys keeps a verifier whose key set is fetched with GetJwks every period, like
// an HTTP client honouring Cache-Control max-age.
func pollKeys(t *testing.T, e *env, runCtx context.Context, period time.Duration) *keyWatcher {
	t.Helper()
	w := &keyWatcher{}
	fetch := func() error {
		resp, err := e.auth.GetJwks(runCtx, &stepupv1.GetJwksRequest{})
		if err != nil {
			return err
		}
		set, err := token.ParseJWKS([]byte(resp.GetJwks().GetJson()))
		if err != nil {
			return err
		}
		w.set.Store(set)
		return nil
	}
	if err := fetch(); err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				fetch()
			}
		}
	}()
	var err error
	w.verifier, err = token.NewVerifier(token.VerifierConfig{
		Issuer: "stepup", Audience: "stepup", Leeway: time.Second, Keys: w.set.Load,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
