package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client/internal/fakestepup"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// sessionHarness is a harness plus a Client of the fake stepup and a logged-in Session.
type sessionHarness struct {
	*harness
	c    *Client
	sess *Session
}

func newSessionHarness(t *testing.T) *sessionHarness {
	t.Helper()
	h := newHarness(t)
	c, err := Dial(h.stepup.Target(), h.stepup.Dialer(), Plaintext())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.Login(testCtx(t), "ann", fakestepup.Password)
	if err != nil {
		t.Fatal(err)
	}
	return &sessionHarness{harness: h, c: c, sess: sess}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// codeRecorder answers with code and counts how often it was asked.
type codeRecorder struct {
	code  string
	err   error
	asked int
}

func (r *codeRecorder) get(_ context.Context, ch *stepupv1.ChallengeSecondFactorResponse) (string, error) {
	r.asked++
	if ch.GetChallengeId() == "" {
		return "", errors.New("no challenge id")
	}
	return r.code, r.err
}

// CallWithStepUp on an interceptor-protected method: the aal1 token gets the step-up
// error, the session proves TOTP, and the retry goes through with the aal2 token.
func TestCallWithStepUpThroughInterceptor(t *testing.T) {
	h := newSessionHarness(t)
	user := &codeRecorder{code: fakestepup.Code}
	calls := 0
	var body string
	transfer := func(ctx context.Context) error {
		calls++
		var err error
		body, err = fakestepup.CallDemo(ctx, h.appConn, fakestepup.DemoTransfer, grpc.PerRPCCredentials(h.sess))
		return err
	}
	if err := h.sess.CallWithStepUp(testCtx(t), stepupv1.Factor_FACTOR_TOTP, user.get, transfer); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || user.asked != 1 || body != "u_ann aal2" {
		t.Fatalf("calls=%d asked=%d body=%q; want 2, 1, %q", calls, user.asked, body, "u_ann aal2")
	}
	if h.fake.Calls("ChallengeSecondFactor") != 1 || h.fake.Calls("VerifySecondFactor") != 1 {
		t.Fatal("want one challenge and one verification")
	}
}

// The same against stepup's own AccountService, which sends the same step-up error.
func TestCallWithStepUpAccountService(t *testing.T) {
	h := newSessionHarness(t)
	user := &codeRecorder{code: fakestepup.Code}
	remove := func(ctx context.Context) error {
		_, err := h.c.Account().RemoveFactor(ctx, &stepupv1.RemoveFactorRequest{}, grpc.PerRPCCredentials(h.sess))
		return err
	}
	if err := h.sess.CallWithStepUp(testCtx(t), stepupv1.Factor_FACTOR_TOTP, user.get, remove); err != nil {
		t.Fatal(err)
	}
	if h.fake.Calls("RemoveFactor") != 2 {
		t.Fatalf("RemoveFactor called %d times, want 2", h.fake.Calls("RemoveFactor"))
	}
}

func TestCallWithStepUpFailures(t *testing.T) {
	stepUp := func(context.Context) error { return token.StepUpError(transferRule) }
	errGone := errors.New("user went away")
	cases := []struct {
		name       string
		code       codeRecorder
		call       func(context.Context) error
		wantCalls  int
		wantAsked  int
		wantVerify int
		check      func(t *testing.T, err error)
	}{
		{
			name:      "other error passes through",
			call:      func(context.Context) error { return status.Error(codes.PermissionDenied, "no") },
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if status.Code(err) != codes.PermissionDenied {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "code function fails", code: codeRecorder{err: errGone},
			call: stepUp, wantCalls: 1, wantAsked: 1,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errGone) {
					t.Fatalf("err = %v, want the code function's error", err)
				}
			},
		},
		{
			name: "wrong code", code: codeRecorder{code: "000000"},
			call: stepUp, wantCalls: 1, wantAsked: 1, wantVerify: 1,
			check: func(t *testing.T, err error) {
				if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "invalid code" {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "retries only once", code: codeRecorder{code: fakestepup.Code},
			call: stepUp, wantCalls: 2, wantAsked: 1, wantVerify: 1,
			check: func(t *testing.T, err error) { wantStepUp(t, err, transferRule) },
		},
		{
			name:      "unreachable acr",
			call:      func(context.Context) error { return token.StepUpError(Rule{ACR: "aal3"}) },
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrCannotStepUp) {
					t.Fatalf("err = %v, want ErrCannotStepUp", err)
				}
				if _, ok := token.ParseStepUpError(err); !ok {
					t.Fatal("the step-up error is not kept")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newSessionHarness(t)
			calls := 0
			err := h.sess.CallWithStepUp(testCtx(t), stepupv1.Factor_FACTOR_TOTP, tc.code.get,
				func(ctx context.Context) error { calls++; return tc.call(ctx) })
			tc.check(t, err)
			if calls != tc.wantCalls || tc.code.asked != tc.wantAsked ||
				h.fake.Calls("VerifySecondFactor") != tc.wantVerify {
				t.Fatalf("calls=%d asked=%d verify=%d; want %d, %d, %d", calls, tc.code.asked,
					h.fake.Calls("VerifySecondFactor"), tc.wantCalls, tc.wantAsked, tc.wantVerify)
			}
		})
	}
}

func TestSessionRefreshAndLogout(t *testing.T) {
	h := newSessionHarness(t)
	first := h.sess.AccessToken()
	if len(h.sess.Factors()) != 1 || h.sess.ExpiresAt().IsZero() {
		t.Fatalf("factors %v, expiry %v", h.sess.Factors(), h.sess.ExpiresAt())
	}
	h.clock.Advance(time.Second)
	if err := h.sess.Refresh(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if h.sess.AccessToken() == first {
		t.Fatal("Refresh kept the old access token")
	}
	_, err := fakestepup.CallDemo(testCtx(t), h.appConn, fakestepup.DemoRead, grpc.PerRPCCredentials(h.sess))
	if err != nil {
		t.Fatalf("call with the refreshed token: %v", err)
	}
	if err := h.sess.Logout(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sess.GetRequestMetadata(testCtx(t)); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after Logout: %v, want ErrNoToken", err)
	}
	if err := h.sess.Refresh(testCtx(t)); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Refresh after Logout: %v, want ErrNoToken", err)
	}
}

func TestTransportSecurityRequired(t *testing.T) {
	if !Bearer("t").RequireTransportSecurity() || InsecureBearer("t").RequireTransportSecurity() {
		t.Fatal("Bearer must require transport security and InsecureBearer must not")
	}
	h := newSessionHarness(t)
	if h.sess.RequireTransportSecurity() {
		t.Fatal("a Plaintext client's session requires TLS")
	}
	tok := h.sess.AccessToken()
	secure := grpc.PerRPCCredentials(Bearer(tok))
	if _, err := fakestepup.CallDemo(testCtx(t), h.appConn, fakestepup.DemoRead, secure); err == nil {
		t.Fatal("Bearer credentials went over a plaintext connection")
	}
	if _, err := fakestepup.CallDemo(testCtx(t), h.appConn, fakestepup.DemoRead,
		grpc.PerRPCCredentials(InsecureBearer(tok))); err != nil {
		t.Fatalf("InsecureBearer: %v", err)
	}

	if _, err := Dial("passthrough:///x"); err == nil {
		t.Fatal("Dial without transport credentials succeeded")
	}

	// Plaintext transport without the Plaintext option: sessions still insist on TLS.
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	c, err := Dial(h.stepup.Target(), h.stepup.Dialer(), plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.Login(testCtx(t), "ann", fakestepup.Password)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.RequireTransportSecurity() {
		t.Fatal("a session of a non-plaintext client does not require TLS")
	}
	_, err = c.Account().ListFactors(testCtx(t), &stepupv1.ListFactorsRequest{}, grpc.PerRPCCredentials(sess))
	if err == nil || h.fake.Calls("ListFactors") != 0 {
		t.Fatal("a session sent its token over a plaintext connection without Plaintext()")
	}
}

// Concurrent calls that all meet the step-up error ask the user once between them.
func TestCallWithStepUpConcurrent(t *testing.T) {
	h := newSessionHarness(t)
	var asked atomic.Int32
	getCode := func(context.Context, *stepupv1.ChallengeSecondFactorResponse) (string, error) {
		asked.Add(1)
		return fakestepup.Code, nil
	}
	transfer := func(ctx context.Context) error {
		_, err := fakestepup.CallDemo(ctx, h.appConn, fakestepup.DemoTransfer, grpc.PerRPCCredentials(h.sess))
		return err
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := h.sess.CallWithStepUp(testCtx(t), stepupv1.Factor_FACTOR_TOTP, getCode, transfer); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := asked.Load(); n != 1 {
		t.Fatalf("the user was asked for %d codes, want 1", n)
	}
}
