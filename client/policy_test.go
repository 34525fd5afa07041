package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/stepup/stepup/client/internal/fakestepup"
	"github.com/stepup/stepup/token"
)

func TestPolicyTable(t *testing.T) {
	h := newHarness(t)
	t0 := fakestepup.T0
	read, transfer, maxAge := fakestepup.DemoRead, fakestepup.DemoTransfer, transferRule.MaxAge
	const unauth = codes.Unauthenticated
	aal1 := h.fake.Token("u_ann", token.ACR1)
	aal2 := h.fake.Token("u_ann", token.ACR2) // auth_time t0
	cases := []struct {
		name   string
		method string
		tok    string
		at     time.Time
		code   codes.Code
		stepUp bool
		body   string
	}{
		{"public without token", fakestepup.DemoPublic, "", t0, codes.OK, false, "public"},
		{"public ignores a bad token", fakestepup.DemoPublic, "junk", t0, codes.OK, false, "public"},
		{"default denies without token", read, "", t0, unauth, false, ""},
		{"default accepts aal1", read, aal1, t0, codes.OK, false, "u_ann aal1"},
		{"stream default denies without token", fakestepup.DemoWatch, "", t0, unauth, false, ""},
		{"stream default accepts aal1", fakestepup.DemoWatch, aal1, t0, codes.OK, false, "u_ann aal1"},
		{"aal2 rule refuses aal1", transfer, aal1, t0, unauth, true, ""},
		{"aal2 rule without token", transfer, "", t0, unauth, false, ""},
		{"aal2 rule accepts aal2", transfer, aal2, t0, codes.OK, false, "u_ann aal2"},
		{"max_age exactly reached", transfer, aal2, t0.Add(maxAge), codes.OK, false, "u_ann aal2"},
		{"max_age exceeded by 1s", transfer, aal2, t0.Add(maxAge + time.Second), unauth, true, ""},
		{"default has no max_age", read, aal2, t0.Add(4 * time.Minute), codes.OK, false, "u_ann aal2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Set(tc.at)
			body, err := h.call(tc.method, tc.tok)
			if tc.stepUp {
				wantStepUp(t, err, transferRule)
				return
			}
			wantCode(t, err, tc.code)
			if body != tc.body {
				t.Fatalf("body = %q, want %q", body, tc.body)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := Policy{
		Public:  []string{"health", "/svc/Both"},
		Methods: map[string]Rule{"/svc/Both": {}, "/svc/Neg": {MaxAge: -time.Second}, "svc/NoSlash": {}},
		Default: Rule{MaxAge: -1},
	}
	err := bad.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{`"health"`, `"/svc/Both" is both`, `"/svc/Neg"`, `"svc/NoSlash"`, "Default"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := testPolicy.Validate(); err != nil {
		t.Fatalf("testPolicy: %v", err)
	}
}

// A policy that does not validate must not serve anything, not even its public methods.
func TestInvalidPolicyFailsClosed(t *testing.T) {
	h := newHarness(t)
	h.app.Stop()
	h.startApp(Policy{Public: []string{"not a method"}})
	for _, m := range []string{fakestepup.DemoPublic, fakestepup.DemoRead, fakestepup.DemoWatch} {
		_, err := h.call(m, h.fake.Token("u_ann", token.ACR2))
		wantCode(t, err, codes.Internal)
	}
}

// overriding is a demo service that implements go-grpc-middleware's override hook,
// which would bypass the policy if the interceptor let it.
type overriding struct{ fakestepup.DemoFunc }

func (overriding) AuthFuncOverride(ctx context.Context, _ string) (context.Context, error) {
	return ctx, nil
}

func TestAuthFuncOverrideRefused(t *testing.T) {
	h := newHarness(t)
	app := fakestepup.Serve(func() *grpc.Server {
		g := grpc.NewServer(
			grpc.ChainUnaryInterceptor(h.v.UnaryServerInterceptor(testPolicy)),
			grpc.ChainStreamInterceptor(h.v.StreamServerInterceptor(testPolicy)),
		)
		fakestepup.RegisterDemo(g, overriding{fakestepup.DemoFunc(demoHandler)})
		return g
	})
	defer app.Stop()
	h.appConn = mustDial(t, app)
	for _, m := range []string{fakestepup.DemoRead, fakestepup.DemoWatch} {
		_, err := h.call(m, "")
		wantCode(t, err, codes.Internal)
	}
}

func TestClaimsFromContextIsACopy(t *testing.T) {
	h := newHarness(t)
	tok := h.fake.Token("u_ann", token.ACR1)
	app := fakestepup.Serve(func() *grpc.Server {
		g := grpc.NewServer(grpc.ChainUnaryInterceptor(h.v.UnaryServerInterceptor(testPolicy)))
		fakestepup.RegisterDemo(g, fakestepup.DemoFunc(func(ctx context.Context, _ string) (string, error) {
			c, _ := ClaimsFromContext(ctx)
			out := c.Subject + " " + c.AMR[0]
			c.Subject, c.AMR[0] = "mallory", "mfa"
			return out, nil
		}))
		return g
	})
	defer app.Stop()
	h.appConn = mustDial(t, app)
	for range 2 {
		body, err := h.call(fakestepup.DemoRead, tok)
		if err != nil || body != "u_ann pwd" {
			t.Fatalf("call = %q, %v; a handler changed the cached claims", body, err)
		}
	}
	if _, ok := ClaimsFromContext(context.Background()); ok {
		t.Fatal("ClaimsFromContext found claims in a bare context")
	}
}
