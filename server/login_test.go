package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/server/internal/throttle"
)

// statusBytes is the wire form of err's status: code, message and details.
func statusBytes(t *testing.T, err error) []byte {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("want a status error, got %v", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st.Proto())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoginFailuresLookAlike: a caller cannot tell an unknown user, a wrong password, a
// disabled account or malformed input apart from the reply.
func TestLoginFailuresLookAlike(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	disabled := h.createUser("dave")
	if _, err := h.admin.DisableUser(h.ctx(), &stepupv1.DisableUserRequest{User: userRef(disabled)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, username, password string }{
		{"unknown user", "nobody", testPassword},
		{"wrong password", "alice", "not the password"},
		{"disabled user", "dave", testPassword},
		{"empty username", "", testPassword},
		{"empty password", "alice", ""},
		{"username over 128 bytes", strings.Repeat("a", 129), testPassword},
		{"password over 1024 bytes", "alice", strings.Repeat("p", 1025)},
	}
	var reference []byte
	for i, tc := range tests {
		// A fresh address per case, so the address throttle stays out of the way.
		c := h.dial(fmt.Sprintf("198.51.100.%d", i+1))
		_, err := c.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: tc.username, Password: tc.password})
		wantCode(t, err, codes.Unauthenticated)
		got := statusBytes(t, err)
		if reference == nil {
			reference = got
			continue
		}
		if string(got) != string(reference) {
			t.Errorf("%s: status %q differs from %q", tc.name, got, reference)
		}
	}
}

// TestLoginRejectsBadInputBeforeWork: empty and oversized fields are refused before the
// password is hashed, so they cost nothing and do not count as failed logins.
func TestLoginRejectsBadInputBeforeWork(t *testing.T) {
	tests := []struct{ name, username, password string }{
		{"empty username", "", testPassword},
		{"empty password", "alice", ""},
		{"username over 128 bytes", strings.Repeat("a", 129), testPassword},
		{"password over 1024 bytes", "alice", strings.Repeat("p", 1025)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.LoginThrottle = throttle.Config{Free: 1} })
			h.createUser("alice")
			for range 5 {
				_, err := h.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: tc.username, Password: tc.password})
				wantCode(t, err, codes.Unauthenticated)
			}
			// Had those been evaluated, both the username and the address would be in back-off.
			h.login("alice")
		})
	}
}

// throttleConfig starts a one-minute back-off after the fourth failure.
var throttleConfig = throttle.Config{Free: 3, Base: time.Minute, Max: 10 * time.Minute}

// TestLoginThrottlePerUsername: after the free failures a username, known or not, is
// refused with RESOURCE_EXHAUSTED and a RetryInfo, from any address and whatever the
// password; once the back-off is over the login is evaluated again.
func TestLoginThrottlePerUsername(t *testing.T) {
	tests := []struct {
		name     string
		known    bool
		attempt  string // spelling of the username used during the back-off
		thenCode codes.Code
	}{
		{"known user", true, "alice", codes.OK},
		{"known user, other case", true, "ALICE", codes.OK},
		{"unknown user", false, "nobody", codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.LoginThrottle = throttleConfig })
			name := strings.ToLower(tc.attempt)
			if tc.known {
				h.createUser(name)
			}
			peers := 0
			fromNewPeer := func(username, pw string) error {
				peers++ // every attempt from its own address: this is about the username
				c := h.dial(fmt.Sprintf("198.51.100.%d", peers))
				_, err := c.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: username, Password: pw})
				return err
			}

			// Free failures plus the one that starts the back-off are all evaluated.
			for i := range throttleConfig.Free + 1 {
				if err := fromNewPeer(name, "wrong password "+fmt.Sprint(i)); status.Code(err) != codes.Unauthenticated {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			for _, pw := range []string{testPassword, "wrong password"} {
				st := wantCode(t, fromNewPeer(tc.attempt, pw), codes.ResourceExhausted)
				if d, ok := retryDelay(st); !ok || d != time.Minute {
					t.Fatalf("RetryInfo %v (present %v), want 1m", d, ok)
				}
			}

			h.clock.Advance(time.Minute - time.Second)
			st := wantCode(t, fromNewPeer(tc.attempt, testPassword), codes.ResourceExhausted)
			if d, _ := retryDelay(st); d != time.Second {
				t.Fatalf("RetryInfo %v one second before the end, want 1s", d)
			}

			h.clock.Advance(time.Second)
			if err := fromNewPeer(tc.attempt, testPassword); status.Code(err) != tc.thenCode {
				t.Fatalf("after the back-off: %v, want %v", err, tc.thenCode)
			}
		})
	}
}

// TestLoginThrottleFoldedUsername: the store treats "sam" and "ſam" (U+017F, long s) as
// one account, so the login throttle must too; otherwise each spelling of a name brings
// its own free failures.
func TestLoginThrottleFoldedUsername(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginThrottle = throttleConfig })
	h.createUser("sam")
	for i := range throttleConfig.Free + 1 {
		c := h.dial(fmt.Sprintf("198.51.100.%d", i+1))
		_, err := c.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: "sam", Password: "wrong password"})
		wantCode(t, err, codes.Unauthenticated)
	}
	c := h.dial("203.0.113.1")
	_, err := c.auth.Login(h.ctx(), &stepupv1.LoginRequest{Username: "\u017fam", Password: testPassword})
	wantCode(t, err, codes.ResourceExhausted)
}

// TestLoginThrottlePerAddress: one address failing across many usernames is throttled,
// for every username, while other addresses are not.
func TestLoginThrottlePerAddress(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginThrottle = throttleConfig })
	h.createUser("alice")
	for i := range throttleConfig.Free + 1 {
		wantCode(t, h.tryLogin(h.clients, fmt.Sprintf("guess%d", i), "x1234567"), codes.Unauthenticated)
	}
	st := wantCode(t, h.tryLogin(h.clients, "alice", testPassword), codes.ResourceExhausted)
	if _, ok := retryDelay(st); !ok {
		t.Fatal("no RetryInfo")
	}
	other := h.dial("203.0.113.9")
	if err := h.tryLogin(other, "alice", testPassword); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
}

// TestLoginHashingBound: with one hashing slot and almost no queue, a burst of logins
// gets RESOURCE_EXHAUSTED for those that find no slot, never another failure, and the
// refusals do not count as failed logins.
func TestLoginHashingBound(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Password = password.Config{
			Params:       password.Params{Memory: 4096, Time: 1, Threads: 1}, // a few ms per hash
			AllowWeak:    true,
			Concurrency:  1,
			QueueTimeout: time.Nanosecond,
		}
	})
	h.createUser("alice")

	const n = 24
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		c := h.dial(fmt.Sprintf("198.51.100.%d", i+1)) // keep the address throttle out of it
		wg.Add(1)
		req := &stepupv1.LoginRequest{Username: "alice", Password: testPassword}
		if i%2 == 1 { // unknown users take a slot too, for the dummy hash
			req = &stepupv1.LoginRequest{Username: "nobody", Password: "whatever password"}
		}
		ctx := h.ctx()
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = c.auth.Login(ctx, req)
		}()
	}
	close(start)
	wg.Wait()

	busy := 0
	for i, err := range errs {
		switch code := status.Code(err); {
		case code == codes.ResourceExhausted:
			busy++
			if st, _ := status.FromError(err); !strings.Contains(st.Message(), "busy") {
				t.Errorf("login %d: %q is not the busy answer", i, st.Message())
			}
		case i%2 == 0 && code == codes.OK, i%2 == 1 && code == codes.Unauthenticated:
		default:
			t.Errorf("login %d: %v", i, err)
		}
	}
	t.Logf("%d of %d logins found no hashing slot", busy, n)
	if busy == 0 {
		t.Fatal("no login was refused for want of a hashing slot")
	}
	// The server keeps serving once the burst is over.
	h.login("alice")
}
