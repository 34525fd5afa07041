//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/store"
)

// The tests in this file run stepupd in a child process (this test binary, re-executed
// with childEnv set) so that it can be killed with SIGKILL or run under a file size
// limit, the unprivileged stand-ins for a crash and a full disk. The parent drives the
// real gRPC API, records every write the child acknowledged, and checks the database
// file itself between runs.

// childEnv holds the JSON childConfig of a child process.
const childEnv = "STEPUP_E2E_CHILD"

// childConfig is what a child needs to serve.
type childConfig struct {
	DataDir string
	// FSize, if not zero, is the RLIMIT_FSIZE the child sets before opening anything.
	FSize uint64
	// RealBase is the real instant, in Unix nanoseconds, at which the shared fake clock
	// reads fakeEpoch.
	RealBase int64
}

// The fake clock of the crash tests runs clockSpeed times faster than real time, so a
// TOTP step passes every 1.5 s and the loop sees many steps, back-offs and expiries.
// Parent and child read the same clock.
const clockSpeed = 20

var fakeEpoch = time.Date(2030, time.January, 2, 3, 4, 0, 0, time.UTC)

func (c childConfig) now() time.Time {
	return fakeEpoch.Add(time.Since(time.Unix(0, c.RealBase)) * clockSpeed)
}

// runChildIfAsked turns the process into a stepupd child when childEnv is set. It
// serves until it is killed and never returns then.
func runChildIfAsked(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.FSize > 0 {
		limit := &syscall.Rlimit{Cur: cfg.FSize, Max: cfg.FSize}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, limit); err != nil {
			fmt.Printf("fail setrlimit: %v\n", err)
			os.Exit(2)
		}
	}
	opts := daemon.Options{
		Listen:  "127.0.0.1:0",
		DataDir: cfg.DataDir,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Server:  server.Config{Now: cfg.now},
	}
	fastPasswords(&opts)
	d, err := daemon.Start(opts)
	if err != nil {
		fmt.Printf("fail %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("addr %s\n", d.Addr())
	select {} // until SIGKILL
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
}

// startChild re-executes the test named test as a child serving cfg.DataDir, and
// waits until it listens.
func startChild(t *testing.T, test string, cfg childConfig) *child {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "addr ") || strings.HasPrefix(sc.Text(), "fail ") {
				lines <- sc.Text()
				break
			}
		}
		io.Copy(io.Discard, stdout)
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if addr, found := strings.CutPrefix(line, "addr "); found {
			c.addr = addr
			return c
		}
		c.kill()
		t.Fatalf("child did not start (%q, %v):\n%s", line, ok, c.stderr)
	case <-time.After(60 * time.Second):
		c.kill()
		t.Fatalf("child did not listen within a minute:\n%s", c.stderr)
	}
	return nil
}

// kill sends SIGKILL and waits for the child to be gone; killing a dead child is a
// no-op.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// clients of one child.
type childClients struct {
	auth    stepupv1.AuthServiceClient
	account stepupv1.AccountServiceClient
	admin   stepupv1.AdminServiceClient
}

func dialChild(t *testing.T, c *child, dataDir string) childClients {
	pub := dial(t, c.addr)
	return childClients{
		auth:    stepupv1.NewAuthServiceClient(pub),
		account: stepupv1.NewAccountServiceClient(pub),
		admin:   stepupv1.NewAdminServiceClient(dial(t, "unix://"+filepath.Join(dataDir, daemon.AdminSocket))),
	}
}

// ledger records what the child acknowledged, and what the database showed at the
// previous check, so a check can tell lost writes and counters that went back.
type ledger struct {
	mu       sync.Mutex
	users    map[string]string // user id -> username, for each acknowledged CreateUser
	totp     map[string]string // user id -> base32 secret of each acknowledged enrollment
	codes    map[string]int    // user id -> recovery codes acknowledged as spent
	consumed map[string]string // challenge id -> user id, for each acknowledged step-up
	step     map[string]int64  // user id -> highest TOTP step an acknowledged call used
	failures map[string]int    // victim user id -> acknowledged wrong codes

	seenStep     map[string]int64 // as found in the file at the previous check
	seenFailures map[string]int
	spent        map[string][]string // user id -> spent recovery codes, for the final replay
}

func newLedger() *ledger {
	return &ledger{
		users: map[string]string{}, totp: map[string]string{}, codes: map[string]int{},
		consumed: map[string]string{}, step: map[string]int64{}, failures: map[string]int{},
		seenStep: map[string]int64{}, seenFailures: map[string]int{}, spent: map[string][]string{},
	}
}

func (l *ledger) record(f func(l *ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// acks counts the acknowledged writes.
func (l *ledger) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.users) + len(l.totp) + len(l.consumed)
	for _, f := range l.failures {
		n += f
	}
	return n
}

// check opens the stopped child's database and verifies it: bbolt's and the store's
// consistency checks, every acknowledged write present, every consumed challenge
// still consumed, and TOTP steps and failure counters no lower than acknowledged or
// than at the previous check.
func (l *ledger) check(t *testing.T, dataDir string) {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("store check after SIGKILL: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := st.View(func(tx *store.Tx) error {
		for id, name := range l.users {
			u, err := tx.User(id)
			if err != nil || u.Username != name {
				return fmt.Errorf("acknowledged user %s (%s): %v", id, name, err)
			}
			if err := l.checkUser(u); err != nil {
				return err
			}
		}
		for id, user := range l.consumed {
			ch, err := tx.Challenge(id)
			if err != nil || ch.UserID != user || ch.ConsumedAt.IsZero() {
				return fmt.Errorf("challenge %s was used, now %+v, %v", id, ch, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkUser applies the per-user rules; l.mu is held.
func (l *ledger) checkUser(u *store.User) error {
	if secret, ok := l.totp[u.ID]; ok {
		if u.TOTP == nil || base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(u.TOTP.Secret) != secret {
			return fmt.Errorf("user %s: acknowledged TOTP enrollment lost", u.ID)
		}
	}
	if n := l.codes[u.ID]; n > 0 && (u.RecoveryCodes == nil || u.RecoveryCodes.Remaining() > 10-n) {
		return fmt.Errorf("user %s: %d codes acknowledged as spent, %d of 10 remain",
			u.ID, n, u.RecoveryCodes.Remaining())
	}
	if u.TOTPLastStep < l.step[u.ID] || u.TOTPLastStep < l.seenStep[u.ID] {
		return fmt.Errorf("user %s: TOTP last step %d went below %d acknowledged or %d seen",
			u.ID, u.TOTPLastStep, l.step[u.ID], l.seenStep[u.ID])
	}
	n := u.SecondFactorFailures
	if f, ok := l.failures[u.ID]; ok && (n < f || n < l.seenFailures[u.ID]) {
		return fmt.Errorf("user %s: %d failures stored, %d acknowledged, %d seen before",
			u.ID, u.SecondFactorFailures, f, l.seenFailures[u.ID])
	}
	l.seenStep[u.ID] = u.TOTPLastStep
	l.seenFailures[u.ID] = u.SecondFactorFailures
	return nil
}

// loadUser is one user a load worker drives, with what the worker knows of it.
type loadUser struct {
	name, id string
	secret   string   // base32 TOTP secret once enrolled
	codes    []string // recovery codes not yet spent
	step     int64    // highest TOTP step used
	victim   bool     // only ever gets wrong codes
	dead     bool     // a call on it failed midway: its state is unknown
}

// loadWorker drives its own users, so no two calls on one user race in the parent's
// bookkeeping; the server sees several workers at once.
type loadWorker struct {
	id    int
	cfg   childConfig
	l     *ledger
	rng   *rand.Rand
	users []*loadUser
	made  int
}

// run performs operations against c until ctx ends.
func (w *loadWorker) run(ctx context.Context, c childClients) {
	for ctx.Err() == nil {
		var err error
		switch u := w.pick(); {
		case u == nil || w.rng.IntN(8) == 0:
			err = w.newUser(ctx, c)
		case u.victim:
			err = w.wrongCode(ctx, c, u)
		case u.secret == "":
			err = w.enroll(ctx, c, u)
		case len(u.codes) > 0 && w.rng.IntN(3) == 0:
			_, err = w.recoveryStepUp(ctx, c, u)
		default:
			err = w.totpStepUp(ctx, c, u)
		}
		if err != nil && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // the child is dying or restarting
		}
	}
}

// pick returns a live user of this worker at random, or nil.
func (w *loadWorker) pick() *loadUser {
	var live []*loadUser
	for _, u := range w.users {
		if !u.dead {
			live = append(live, u)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[w.rng.IntN(len(live))]
}

// newUser creates a user: one in five is a victim that only ever gets wrong codes,
// the rest enroll TOTP.
func (w *loadWorker) newUser(ctx context.Context, c childClients) error {
	u, err := w.create(ctx, c)
	if err != nil {
		return err
	}
	u.victim = w.made%5 == 1
	return w.enroll(ctx, c, u)
}

// newRecoveryUser creates a user with recovery codes.
func (w *loadWorker) newRecoveryUser(ctx context.Context, c childClients) error {
	u, err := w.create(ctx, c)
	if err != nil {
		return err
	}
	tok, err := w.login(ctx, c, u)
	if err != nil {
		return err
	}
	rc, err := c.account.CreateRecoveryCodes(withBearer(ctx, tok), &stepupv1.CreateRecoveryCodesRequest{})
	if err != nil {
		return err
	}
	u.codes = rc.GetCodes()
	return nil
}

// create creates a user owned by w.
func (w *loadWorker) create(ctx context.Context, c childClients) (*loadUser, error) {
	w.made++
	u := &loadUser{name: fmt.Sprintf("w%d-u%d", w.id, w.made)}
	resp, err := c.admin.CreateUser(ctx, &stepupv1.CreateUserRequest{Username: u.name, Password: alicePassword})
	if err != nil {
		return nil, err
	}
	u.id = resp.GetUserId()
	w.users = append(w.users, u)
	w.l.record(func(l *ledger) { l.users[u.id] = u.name })
	return u, nil
}

func (w *loadWorker) login(ctx context.Context, c childClients, u *loadUser) (string, error) {
	resp, err := c.auth.Login(ctx, &stepupv1.LoginRequest{Username: u.name, Password: alicePassword})
	if err != nil {
		u.dead = u.dead || status.Code(err) != codes.Unavailable
		return "", err
	}
	return resp.GetAccessToken(), nil
}

// enroll begins and confirms a TOTP enrollment. A user with recovery codes already has
// a factor, so it steps up with one first, as enrolling another factor demands.
func (w *loadWorker) enroll(ctx context.Context, c childClients, u *loadUser) error {
	tok, err := w.login(ctx, c, u)
	if err != nil {
		return err
	}
	if len(u.codes) > 0 {
		if tok, err = w.recoveryStepUp(ctx, c, u); err != nil {
			return err
		}
	}
	begin, err := c.account.BeginTotpEnrollment(withBearer(ctx, tok), &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		return err // a pending secret changes nothing that is checked
	}
	code, step := w.code(begin.GetSecret())
	_, err = c.account.ConfirmTotpEnrollment(withBearer(ctx, tok),
		&stepupv1.ConfirmTotpEnrollmentRequest{Code: code})
	if err != nil {
		u.dead = true
		return err
	}
	u.secret, u.step = begin.GetSecret(), step
	w.l.record(func(l *ledger) {
		l.totp[u.id] = u.secret
		l.step[u.id] = max(l.step[u.id], step)
	})
	return nil
}

// code is the TOTP code of secret now, and its step.
func (w *loadWorker) code(secret string) (string, int64) {
	now := w.cfg.now()
	c, _ := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c, now.Unix() / 30
}

// challenge logs u in and opens a challenge for f.
func (w *loadWorker) challenge(ctx context.Context, c childClients, u *loadUser,
	f stepupv1.Factor) (string, string, error) {
	tok, err := w.login(ctx, c, u)
	if err != nil {
		return "", "", err
	}
	ch, err := c.auth.ChallengeSecondFactor(withBearer(ctx, tok), &stepupv1.ChallengeSecondFactorRequest{Factor: f})
	if err != nil {
		return "", "", err
	}
	return tok, ch.GetChallengeId(), nil
}

func (w *loadWorker) totpStepUp(ctx context.Context, c childClients, u *loadUser) error {
	if _, step := w.code(u.secret); step <= u.step {
		time.Sleep(20 * time.Millisecond) // this step is spent; wait for the next
		return nil
	}
	tok, ch, err := w.challenge(ctx, c, u, stepupv1.Factor_FACTOR_TOTP)
	if err != nil {
		return err
	}
	code, step := w.code(u.secret)
	_, err = c.auth.VerifySecondFactor(withBearer(ctx, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch, Code: code})
	if err != nil {
		u.dead = true
		return err
	}
	u.step = step
	w.l.record(func(l *ledger) {
		l.consumed[ch] = u.id
		l.step[u.id] = max(l.step[u.id], step)
	})
	return nil
}

// recoveryStepUp steps up with the next recovery code and returns the aal2 token.
func (w *loadWorker) recoveryStepUp(ctx context.Context, c childClients, u *loadUser) (string, error) {
	tok, ch, err := w.challenge(ctx, c, u, stepupv1.Factor_FACTOR_RECOVERY_CODE)
	if err != nil {
		return "", err
	}
	code := u.codes[0]
	u.codes = u.codes[1:] // spent or in doubt: never presented again by the load
	resp, err := c.auth.VerifySecondFactor(withBearer(ctx, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch, Code: code})
	if err != nil {
		u.dead = true
		return "", err
	}
	w.l.record(func(l *ledger) {
		l.consumed[ch] = u.id
		l.codes[u.id]++
		l.spent[u.id] = append(l.spent[u.id], code)
	})
	return resp.GetAccessToken(), nil
}

// wrongCode sends a wrong TOTP code for a victim, which must count as a failure.
func (w *loadWorker) wrongCode(ctx context.Context, c childClients, u *loadUser) error {
	tok, ch, err := w.challenge(ctx, c, u, stepupv1.Factor_FACTOR_TOTP)
	if status.Code(err) == codes.ResourceExhausted {
		return nil // in back-off or locked: the counter is not touched
	}
	if err != nil {
		return err
	}
	code, _ := w.code(u.secret)
	_, err = c.auth.VerifySecondFactor(withBearer(ctx, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch, Code: wrongCode(code)})
	if status.Code(err) == codes.Unauthenticated {
		w.l.record(func(l *ledger) { l.failures[u.id]++ })
		return nil
	}
	return err
}

func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// TestCrashLoop kills a stepupd under write load with SIGKILL at random moments,
// checks the database file after each kill, and restarts it on the same data
// directory. Nothing acknowledged may be lost, no used challenge or recovery code may
// become usable, and no TOTP step or failure counter may go back (the store fsyncs
// every commit; bbolt's NoSync stays off).
func TestCrashLoop(t *testing.T) {
	runChildIfAsked(t)
	const kills = 15
	dataDir := t.TempDir()
	cfg := childConfig{DataDir: dataDir, RealBase: time.Now().UnixNano()}
	l := newLedger()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	workers := make([]*loadWorker, 4)
	for i := range workers {
		seed := rand.NewPCG(rng.Uint64(), uint64(i))
		workers[i] = &loadWorker{id: i, cfg: cfg, l: l, rng: rand.New(seed)}
	}

	// Recovery codes cost an argon2id hash each, too slow under -race to be made
	// between two kills, so every worker gets a user with codes before the loop.
	c := startChild(t, "TestCrashLoop", cfg)
	clients := dialChild(t, c, dataDir)
	for _, w := range workers {
		if err := w.newRecoveryUser(ctx(t), clients); err != nil {
			t.Fatalf("set up recovery codes: %v", err)
		}
	}
	c.kill()
	l.check(t, dataDir)

	for run := range kills {
		c := startChild(t, "TestCrashLoop", cfg)
		clients := dialChild(t, c, dataDir)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.run(ctx, clients) })
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		c.kill()
		cancel()
		wg.Wait()
		l.check(t, dataDir)
		t.Logf("kill %d: %d writes acknowledged so far", run+1, l.acks())
	}

	c = startChild(t, "TestCrashLoop", cfg)
	replaySpentCodes(t, dialChild(t, c, dataDir), l)
	c.kill()
	l.check(t, dataDir)
	if len(l.consumed) == 0 || len(l.totp) == 0 || len(l.failures) == 0 || countSpent(l) == 0 {
		t.Fatalf("the load did too little: %d step-ups, %d enrollments, %d victims, %d codes spent",
			len(l.consumed), len(l.totp), len(l.failures), countSpent(l))
	}
	t.Logf("%d kills; %d users, %d enrollments, %d step-ups, %d spent recovery codes acknowledged and kept",
		kills, len(l.users), len(l.totp), len(l.consumed), countSpent(l))
}

// replaySpentCodes presents each user's first spent recovery code again through the
// API, after all the kills: it must be refused.
func replaySpentCodes(t *testing.T, c childClients, l *ledger) {
	ctx := ctx(t)
	for id, spent := range l.spent {
		name := l.users[id]
		login, err := c.auth.Login(ctx, &stepupv1.LoginRequest{Username: name, Password: alicePassword})
		if err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		tok := login.GetAccessToken()
		ch, err := c.auth.ChallengeSecondFactor(withBearer(ctx, tok),
			&stepupv1.ChallengeSecondFactorRequest{Factor: stepupv1.Factor_FACTOR_RECOVERY_CODE})
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.ResourceExhausted {
			continue // no codes left, or locked by an earlier in-doubt call: nothing to replay
		}
		if err != nil {
			t.Fatalf("challenge for %s: %v", name, err)
		}
		_, err = c.auth.VerifySecondFactor(withBearer(ctx, tok),
			&stepupv1.VerifySecondFactorRequest{ChallengeId: ch.GetChallengeId(), Code: spent[0]})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("user %s: a spent recovery code after the crashes got %v, want UNAUTHENTICATED", name, err)
		}
	}
}

func countSpent(l *ledger) int {
	n := 0
	for _, c := range l.codes {
		n += c
	}
	return n
}

// TestDiskFull runs stepupd under a 256 KiB file size limit (EFBIG once bbolt must
// grow the file past it) and fills it with users. From then on every write either
// fails with UNAVAILABLE and a plain message, or succeeds and is durable (a write that
// fits in pages bbolt freed needs no growth); reads and ValidateToken keep working;
// nothing acknowledged is damaged; and after a restart without the limit the service
// writes again.
func TestDiskFull(t *testing.T) {
	runChildIfAsked(t)
	dataDir := t.TempDir()
	cfg := childConfig{DataDir: dataDir, FSize: 256 << 10, RealBase: time.Now().UnixNano()}
	c := startChild(t, "TestDiskFull", cfg)
	cl := dialChild(t, c, dataDir)
	ctx := ctx(t)

	alice := &stepupv1.CreateUserRequest{Username: "alice", Password: alicePassword}
	if _, err := cl.admin.CreateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	login, err := cl.auth.Login(ctx, &stepupv1.LoginRequest{Username: "alice", Password: alicePassword})
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{login.GetAccessToken()}

	acked, full := fillDisk(t, cl, 0)
	t.Logf("%d users acknowledged before the file size limit; then %v", len(acked), full)
	wantStorageError(t, full)

	// Keep writing on the full disk: logins (a session and a refresh token each) and
	// more users.
	failed := 0
	for i := range 20 {
		resp, err := cl.auth.Login(ctx, &stepupv1.LoginRequest{Username: "alice", Password: alicePassword})
		if err == nil {
			tokens = append(tokens, resp.GetAccessToken())
		} else {
			wantStorageError(t, err)
			failed++
		}
		more, err := fillDisk(t, cl, 1+i)
		maps.Copy(acked, more)
		if err != nil {
			wantStorageError(t, err)
			failed++
		}
	}
	if failed < 20 {
		t.Fatalf("only %d of 40 writes failed on a full disk", failed)
	}
	if logs := c.stderr.String(); !strings.Contains(logs, "file too large") {
		t.Fatalf("the child's log does not show EFBIG; the test may not have filled the disk:\n%s", logs)
	}
	diskFullReads(t, cl, tokens, acked)

	c.kill()
	checkUsers(t, dataDir, acked)
	cfg.FSize = 0
	c = startChild(t, "TestDiskFull", cfg)
	cl = dialChild(t, c, dataDir)
	after := &stepupv1.CreateUserRequest{Username: "after", Password: alicePassword}
	if _, err := cl.admin.CreateUser(ctx, after); err != nil {
		t.Fatalf("CreateUser after the limit was lifted: %v", err)
	}
	if _, err := cl.auth.Login(ctx, &stepupv1.LoginRequest{Username: "alice", Password: alicePassword}); err != nil {
		t.Fatalf("Login after the limit was lifted: %v", err)
	}
	diskFullReads(t, cl, tokens, acked)
	c.kill()
	checkUsers(t, dataDir, acked)
}

// wantStorageError checks the answer to a write that could not be made durable.
func wantStorageError(t *testing.T, err error) {
	t.Helper()
	st := wantCode(t, err, codes.Unavailable)
	if st.Message() != "storage unavailable, try again later" {
		t.Fatalf("disk-full message %q", st.Message())
	}
}

// fillDisk creates users until a write fails, and returns the acknowledged ones (name
// -> id) and the failure. Batch numbers keep the names of several calls apart.
func fillDisk(t *testing.T, cl childClients, batch int) (map[string]string, error) {
	acked := map[string]string{}
	for i := range 100000 {
		name := fmt.Sprintf("filler-%02d-%05d-%s", batch, i, strings.Repeat("x", 40))
		resp, err := cl.admin.CreateUser(ctx(t), &stepupv1.CreateUserRequest{Username: name, Password: alicePassword})
		if err != nil {
			return acked, err
		}
		acked[name] = resp.GetUserId()
	}
	t.Fatal("the file size limit never stopped a write")
	return nil, nil
}

// diskFullReads checks the calls that only read: every acknowledged token still
// validates (its session was written), and the acknowledged users can be read.
func diskFullReads(t *testing.T, cl childClients, tokens []string, acked map[string]string) {
	t.Helper()
	ctx := ctx(t)
	for i, tok := range tokens {
		v, err := cl.auth.ValidateToken(ctx, &stepupv1.ValidateTokenRequest{Token: tok})
		if err != nil || !v.GetValid() {
			t.Fatalf("ValidateToken of acknowledged token %d: %v %v", i, v.GetReason(), err)
		}
	}
	if _, err := cl.account.ListFactors(withBearer(ctx, tokens[0]), &stepupv1.ListFactorsRequest{}); err != nil {
		t.Fatalf("ListFactors: %v", err)
	}
	if _, err := cl.auth.GetJwks(ctx, &stepupv1.GetJwksRequest{}); err != nil {
		t.Fatalf("GetJwks: %v", err)
	}
	for name, id := range acked {
		u, err := cl.admin.GetUser(ctx, &stepupv1.GetUserRequest{User: &stepupv1.UserRef{
			Ref: &stepupv1.UserRef_Username{Username: name}}})
		if err != nil || u.GetUser().GetUserId() != id {
			t.Fatalf("GetUser(%s): %v %v", name, u, err)
		}
	}
}

// checkUsers opens the stopped child's database, checks it, and looks for every
// acknowledged user.
func checkUsers(t *testing.T, dataDir string, acked map[string]string) {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("store check: %v", err)
	}
	err := st.View(func(tx *store.Tx) error {
		for name, id := range acked {
			if u, err := tx.User(id); err != nil || u.Username != name {
				return errors.Join(fmt.Errorf("acknowledged user %s lost", name), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
