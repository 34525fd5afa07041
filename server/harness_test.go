package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// epoch is where every fake clock starts: a whole second on a TOTP step boundary, so
// step arithmetic in the tests is exact.
var epoch = time.Date(2030, time.January, 2, 3, 4, 0, 0, time.UTC)

// testPassword is the password of every user the tests create.
const testPassword = "correct horse battery staple"

// defaultPeer is the client address of the harness's default clients.
const defaultPeer = "192.0.2.1"

// clock is the fake time source the server, the login throttle and the verifier read.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

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

// lockedBuffer collects log output written from many handler goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// peerListener lets each test connection claim a client address. bufconn reports the
// same address for every peer, which would make the per-address login throttle shared by
// all clients; the dialer instead writes a one-byte length and the address as the first
// bytes of the stream, and Accept strips them.
type peerListener struct {
	*bufconn.Listener
}

func (l peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, err := readPeerHeader(c)
		if err != nil {
			c.Close()
			continue
		}
		return &peerConn{Conn: c, remote: addr}, nil
	}
}

func readPeerHeader(c net.Conn) (net.Addr, error) {
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	host := make([]byte, n[0])
	if _, err := io.ReadFull(c, host); err != nil {
		return nil, err
	}
	ip := net.ParseIP(string(host))
	if ip == nil {
		return nil, fmt.Errorf("bad peer header %q", host)
	}
	return &net.TCPAddr{IP: ip, Port: 40000}, nil
}

type peerConn struct {
	net.Conn
	remote net.Addr
}

func (c *peerConn) RemoteAddr() net.Addr { return c.remote }

// clients are the public-service clients of one connection.
type clients struct {
	auth    stepupv1.AuthServiceClient
	account stepupv1.AccountServiceClient
	conn    *grpc.ClientConn
}

// harness is one server on a real bbolt file behind its real gRPC wiring, reached over
// bufconn. Only the clock is fake.
type harness struct {
	t      *testing.T
	clock  *clock
	logs   *lockedBuffer
	srv    *Server
	store  *store.Store
	public *bufconn.Listener
	admin  stepupv1.AdminServiceClient
	clients
}

// fastPasswords keeps argon2id cheap: the tests are about policy, not hashing cost.
var fastPasswords = password.Config{Params: password.Params{Memory: 64, Time: 1, Threads: 1}, AllowWeak: true}

// newHarness starts a server whose Config is the test defaults changed by each opt.
func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{now: epoch}, logs: &lockedBuffer{}}
	st, err := store.Open(filepath.Join(t.TempDir(), "stepup.db"),
		store.Options{MasterKey: bytes.Repeat([]byte{0x5a}, 32)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	h.store = st
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		st.Close()
	})

	cfg := Config{
		Now:      h.clock.Now,
		Password: fastPasswords,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if h.srv, err = New(st, cfg); err != nil {
		t.Fatalf("New: %v", err)
	}

	h.public = bufconn.Listen(1 << 20)
	serve(t, h.srv.NewPublicServer(), peerListener{h.public})
	h.clients = h.dial(defaultPeer)

	adminLis := bufconn.Listen(1 << 20)
	serve(t, h.srv.NewAdminServer(), adminLis)
	adminConn := newConn(t, func(ctx context.Context, _ string) (net.Conn, error) {
		return adminLis.DialContext(ctx)
	})
	h.admin = stepupv1.NewAdminServiceClient(adminConn)
	return h
}

func serve(t *testing.T, g *grpc.Server, lis net.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(func() {
		g.Stop()
		<-done
	})
}

func newConn(t *testing.T, dialer func(context.Context, string) (net.Conn, error)) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dial returns clients of the public server whose connection comes from the IP ip.
func (h *harness) dial(ip string) clients {
	conn := newConn(h.t, func(ctx context.Context, _ string) (net.Conn, error) {
		c, err := h.public.DialContext(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(append([]byte{byte(len(ip))}, ip...)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	return clients{
		auth:    stepupv1.NewAuthServiceClient(conn),
		account: stepupv1.NewAccountServiceClient(conn),
		conn:    conn,
	}
}

// ctx is a request context that cannot hang a test.
func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// bearer is a request context presenting tok as the access token.
func (h *harness) bearer(tok string) context.Context { return bearerCtx(h.ctx(), tok) }

// bearerCtx adds tok as the access token to ctx; safe to call from any goroutine.
func bearerCtx(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func (h *harness) createUser(name string) string {
	h.t.Helper()
	resp, err := h.admin.CreateUser(h.ctx(), &stepupv1.CreateUserRequest{Username: name, Password: testPassword})
	if err != nil {
		h.t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return resp.GetUserId()
}

func userRef(id string) *stepupv1.UserRef {
	return &stepupv1.UserRef{Ref: &stepupv1.UserRef_UserId{UserId: id}}
}

// tryLogin logs in through c and returns only the error.
func (h *harness) tryLogin(c clients, name, pw string) error {
	_, err := c.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: name, Password: pw})
	return err
}

func (h *harness) changePassword(tok, current, next string) error {
	_, err := h.account.ChangePassword(h.bearer(tok),
		&stepupv1.ChangePasswordRequest{CurrentPassword: current, NewPassword: next})
	return err
}

func (h *harness) confirmTOTP(tok, code string) error {
	_, err := h.account.ConfirmTotpEnrollment(h.bearer(tok), &stepupv1.ConfirmTotpEnrollmentRequest{Code: code})
	return err
}

func (h *harness) login(name string) *stepupv1.LoginResponse {
	h.t.Helper()
	resp, err := h.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: name, Password: testPassword})
	if err != nil {
		h.t.Fatalf("Login(%q): %v", name, err)
	}
	return resp
}

// enrollTOTP enrolls an authenticator for the holder of tok, returns its base32 secret
// and advances the clock one step, since the confirmation spent the current one.
func (h *harness) enrollTOTP(tok string) string {
	h.t.Helper()
	begin, err := h.account.BeginTotpEnrollment(h.bearer(tok), &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		h.t.Fatalf("BeginTotpEnrollment: %v", err)
	}
	if err := h.confirmTOTP(tok, h.code(begin.GetSecret())); err != nil {
		h.t.Fatalf("ConfirmTotpEnrollment: %v", err)
	}
	h.clock.Advance(30 * time.Second)
	return begin.GetSecret()
}

// code is what an authenticator app shows now, computed by pquerna/otp rather than the
// server's own implementation.
func (h *harness) code(secret string) string {
	h.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, h.clock.Now(), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		h.t.Fatalf("generate TOTP code: %v", err)
	}
	return c
}

// wrongCode returns a six-digit code that differs from right.
func wrongCode(right string) string {
	b := []byte(right)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func (h *harness) challenge(tok string, f stepupv1.Factor) string {
	h.t.Helper()
	resp, err := h.auth.ChallengeSecondFactor(h.bearer(tok), &stepupv1.ChallengeSecondFactorRequest{Factor: f})
	if err != nil {
		h.t.Fatalf("ChallengeSecondFactor(%v): %v", f, err)
	}
	return resp.GetChallengeId()
}

func (h *harness) verify(tok, challengeID, code string) (*stepupv1.VerifySecondFactorResponse, error) {
	return h.auth.VerifySecondFactor(h.bearer(tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: challengeID, Code: code})
}

// stepUp answers a new TOTP challenge with the current code and returns the aal2 token.
// The caller advances the clock before the authenticator is used again.
func (h *harness) stepUp(tok, secret string) string {
	h.t.Helper()
	resp, err := h.verify(tok, h.challenge(tok, stepupv1.Factor_FACTOR_TOTP), h.code(secret))
	if err != nil {
		h.t.Fatalf("step up: %v", err)
	}
	return resp.GetAccessToken()
}

func (h *harness) validate(tok, acr string, maxAge *durationpb.Duration) *stepupv1.ValidateTokenResponse {
	h.t.Helper()
	req := &stepupv1.ValidateTokenRequest{Token: tok, RequiredAcr: acr, MaxAge: maxAge}
	resp, err := h.auth.ValidateToken(h.ctx(), req)
	if err != nil {
		h.t.Fatalf("ValidateToken: %v", err)
	}
	return resp
}

func (h *harness) reason(tok string) stepupv1.ValidationReason {
	h.t.Helper()
	return h.validate(tok, "", nil).GetReason()
}

func (h *harness) getUser(id string) *stepupv1.User {
	h.t.Helper()
	resp, err := h.admin.GetUser(h.ctx(), &stepupv1.GetUserRequest{User: userRef(id)})
	if err != nil {
		h.t.Fatalf("GetUser: %v", err)
	}
	return resp.GetUser()
}

// claimsOf returns the verified claims of one of the server's own tokens, for tests that
// re-sign them with a change.
func (h *harness) claimsOf(tok string) *token.Claims {
	h.t.Helper()
	c, err := h.srv.verifier.Verify(tok)
	if err != nil {
		h.t.Fatalf("verify own token: %v", err)
	}
	return c
}

// signWith signs c with signer, failing the test on error.
func signWith(t *testing.T, signer *token.Signer, c *token.Claims) string {
	t.Helper()
	raw, err := signer.Sign(c)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

// wantCode fails unless err is a status with code want, and returns the status.
func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("got non-status error %v, want %v", err, want)
	}
	if st.Code() != want {
		t.Fatalf("got %v (%q), want %v", st.Code(), st.Message(), want)
	}
	return st
}

// retryDelay returns the RetryInfo delay of st, or false when it has none.
func retryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}
