package e2e

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/daemon"
)

// clock is the one fake in these tests: the server reads time from it so the tests can
// move between TOTP steps and past max_age without sleeping. Everything else is real:
// the daemon, bbolt on disk, gRPC over TCP and the admin Unix socket.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a running daemon and clients for its services.
type env struct {
	t       *testing.T
	clock   *clock
	dataDir string
	d       *daemon.Daemon
	auth    stepupv1.AuthServiceClient
	account stepupv1.AccountServiceClient
	admin   stepupv1.AdminServiceClient
	public  *grpc.ClientConn
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), dataDir: t.TempDir()}
	e.boot()
	return e
}

// boot starts the daemon on the env's data directory.
func (e *env) boot() { e.bootWith(nil) }

// bootWith starts the daemon with options adjusted by tweak.
func (e *env) bootWith(tweak func(*daemon.Options)) {
	t := e.t
	opts := daemon.Options{
		Listen:  "127.0.0.1:0",
		DataDir: e.dataDir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if e.clock != nil {
		opts.Server = serverConfig(e.clock)
	}
	if tweak != nil {
		tweak(&opts)
	}
	d, err := daemon.Start(opts)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	e.d = d
	t.Cleanup(func() { e.stop() })
	e.public = dial(t, d.Addr())
	e.auth = stepupv1.NewAuthServiceClient(e.public)
	e.account = stepupv1.NewAccountServiceClient(e.public)
	e.admin = stepupv1.NewAdminServiceClient(dial(t, "unix://"+filepath.Join(e.dataDir, daemon.AdminSocket)))
}

func (e *env) stop() {
	if e.d == nil {
		return
	}
	if err := e.d.Close(5 * time.Second); err != nil {
		e.t.Errorf("close daemon: %v", err)
	}
	e.d = nil
}

func dial(t *testing.T, target string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", target, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// bearer returns a context that presents tok as the caller's access token.
func bearer(t *testing.T, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer "+tok)
}

// createUser creates a user through the admin socket and returns its id.
func (e *env) createUser(name, password string) string {
	e.t.Helper()
	resp, err := e.admin.CreateUser(ctx(e.t), &stepupv1.CreateUserRequest{Username: name, Password: password})
	if err != nil {
		e.t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return resp.GetUserId()
}

func (e *env) login(name, password string) *stepupv1.LoginResponse {
	e.t.Helper()
	resp, err := e.auth.Login(ctx(e.t), &stepupv1.LoginRequest{Username: name, Password: password})
	if err != nil {
		e.t.Fatalf("Login(%s): %v", name, err)
	}
	return resp
}

// enrollTOTP enrolls an authenticator for the holder of tok and returns its secret.
// The confirmation uses the current step, so the caller should advance the clock
// before using the authenticator again.
func (e *env) enrollTOTP(tok string) string {
	e.t.Helper()
	begin, err := e.account.BeginTotpEnrollment(bearer(e.t, tok), &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		e.t.Fatalf("BeginTotpEnrollment: %v", err)
	}
	_, err = e.account.ConfirmTotpEnrollment(bearer(e.t, tok),
		&stepupv1.ConfirmTotpEnrollmentRequest{Code: e.code(begin.GetSecret())})
	if err != nil {
		e.t.Fatalf("ConfirmTotpEnrollment: %v", err)
	}
	return begin.GetSecret()
}

// code computes the TOTP code an authenticator app would show now. It uses
// pquerna/otp, an implementation independent of the server's.
func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now(), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		e.t.Fatalf("generate code: %v", err)
	}
	return c
}

// stepUp answers a fresh challenge for factor with code and returns the result.
func (e *env) stepUp(tok string, factor stepupv1.Factor, code string) (*stepupv1.VerifySecondFactorResponse, error) {
	e.t.Helper()
	ch, err := e.auth.ChallengeSecondFactor(bearer(e.t, tok), &stepupv1.ChallengeSecondFactorRequest{Factor: factor})
	if err != nil {
		e.t.Fatalf("ChallengeSecondFactor(%v): %v", factor, err)
	}
	return e.auth.VerifySecondFactor(bearer(e.t, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch.GetChallengeId(), Code: code})
}

func (e *env) validate(tok string, acr string, maxAge time.Duration) *stepupv1.ValidateTokenResponse {
	e.t.Helper()
	req := &stepupv1.ValidateTokenRequest{Token: tok, RequiredAcr: acr}
	if maxAge > 0 {
		req.MaxAge = durationOf(maxAge)
	}
	resp, err := e.auth.ValidateToken(ctx(e.t), req)
	if err != nil {
		e.t.Fatalf("ValidateToken: %v", err)
	}
	return resp
}
