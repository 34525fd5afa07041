package settings_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client"
	"github.com/stepup/stepup/examples/settings"
	settingsv1 "github.com/stepup/stepup/gen/stepup/examples/settings/v1"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/token"
)

// clock is the only fake: stepup and the settings service read time from it, so the
// test can move to a fresh TOTP step without sleeping. stepupd, bbolt, the interceptor
// and every gRPC hop (over loopback TCP) are real.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func TestProtectedService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := &clock{now: time.Now().Truncate(time.Second)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// stepupd, as `go run ./cmd/stepupd` starts it, on a loopback port.
	dataDir := t.TempDir()
	d, err := daemon.Start(daemon.Options{Listen: "127.0.0.1:0", DataDir: dataDir, Logger: quiet,
		Server: server.Config{Now: clk.Now}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(time.Second)
	adminConn, err := grpc.NewClient("unix:"+d.AdminSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer adminConn.Close()
	admin := stepupv1.NewAdminServiceClient(adminConn)
	if _, err := admin.CreateUser(ctx, &stepupv1.CreateUserRequest{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}

	// The settings service, wired as a service owner would wire it.
	stepup, err := client.Dial(d.Addr(), client.Plaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer stepup.Close()
	v, err := client.NewVerifier(ctx, client.Config{Conn: stepup.Conn(), Issuer: "stepup", Audience: "stepup",
		Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := settings.NewServer(v)
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svc := settingsv1.NewSettingsServiceClient(conn)

	// 1. No token: rejected.
	_, err = svc.GetProfile(ctx, &settingsv1.GetProfileRequest{})
	wantCode(t, err, codes.Unauthenticated)

	// 2. An aal1 token reads the profile but cannot change the email: step-up error.
	sess, err := stepup.Login(ctx, "alice", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	as := grpc.PerRPCCredentials(sess)
	prof, err := svc.GetProfile(ctx, &settingsv1.GetProfileRequest{}, as)
	if err != nil || prof.GetAcr() != "aal1" {
		t.Fatalf("GetProfile with aal1: %v %v", prof, err)
	}
	secret := enrollTOTP(t, ctx, stepup, sess, clk)
	clk.Advance(30 * time.Second) // the confirmation used this TOTP step
	changeEmail := func(ctx context.Context) error {
		_, err := svc.ChangeEmail(ctx, &settingsv1.ChangeEmailRequest{Email: "alice@example.com"}, as)
		return err
	}
	err = changeEmail(ctx)
	req, ok := token.ParseStepUpError(err)
	if !ok || req.ACR != "aal2" || req.MaxAge != 5*time.Minute {
		t.Fatalf("ChangeEmail with aal1: %v (step-up %v %+v)", err, ok, req)
	}

	// 3. Step up with TOTP and retry: accepted.
	var asked int
	codeFn := func(context.Context, *stepupv1.ChallengeSecondFactorResponse) (string, error) {
		asked++
		return totpCode(t, secret, clk.Now()), nil
	}
	if err := sess.CallWithStepUp(ctx, stepupv1.Factor_FACTOR_TOTP, codeFn, changeEmail); err != nil {
		t.Fatalf("ChangeEmail after step-up: %v", err)
	}
	if asked != 1 {
		t.Fatalf("code asked %d times", asked)
	}
	prof, err = svc.GetProfile(ctx, &settingsv1.GetProfileRequest{}, as)
	if err != nil || prof.GetEmail() != "alice@example.com" || prof.GetAcr() != "aal2" {
		t.Fatalf("profile after change: %v %v", prof, err)
	}

	// 4. Revoke: the local interceptor learns it from WatchRevocations and refuses the
	// token, without any call to stepup on the request path, within a second.
	if _, err := admin.RevokeUserTokens(ctx, &stepupv1.RevokeUserTokensRequest{
		User: &stepupv1.UserRef{Ref: &stepupv1.UserRef_Username{Username: "alice"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, err = svc.GetProfile(ctx, &settingsv1.GetProfileRequest{}, as)
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked token still accepted a second after revocation: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantCode(t, changeEmail(ctx), codes.Unauthenticated)
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func enrollTOTP(t *testing.T, ctx context.Context, c *client.Client, sess *client.Session, clk *clock) string {
	t.Helper()
	begin, err := c.Account().BeginTotpEnrollment(ctx, &stepupv1.BeginTotpEnrollmentRequest{}, grpc.PerRPCCredentials(sess))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Account().ConfirmTotpEnrollment(ctx, &stepupv1.ConfirmTotpEnrollmentRequest{
		Code: totpCode(t, begin.GetSecret(), clk.Now())}, grpc.PerRPCCredentials(sess))
	if err != nil {
		t.Fatal(err)
	}
	return begin.GetSecret()
}

// totpCode is what an authenticator app shows, from pquerna/otp (not stepup's code).
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}
