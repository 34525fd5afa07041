package password

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// weak keeps the suite fast; one test uses the real defaults.
var weak = Params{Memory: 64, Time: 1, Threads: 1}

func newWeak(t testing.TB, cfg Config) *Hasher {
	t.Helper()
	cfg.Params, cfg.AllowWeak = weak, true
	h, err := NewHasher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var phcForm = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestRoundTrip(t *testing.T) {
	h := newWeak(t, Config{})
	ctx := context.Background()
	for _, pw := range []string{"correct horse battery", "", "pässwörd-ü", "\x00\xff"} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if !phcForm.MatchString(enc) {
			t.Errorf("encoded %q is not in PHC form", enc)
		}
		if ok, err := h.Verify(ctx, enc, pw); !ok || err != nil {
			t.Errorf("Verify(right password %q) = %v, %v", pw, ok, err)
		}
		if ok, err := h.Verify(ctx, enc, pw+"x"); ok || err != nil {
			t.Errorf("Verify(wrong password) = %v, %v", ok, err)
		}
	}
}

func TestSaltsDiffer(t *testing.T) {
	h := newWeak(t, Config{})
	a, _ := h.Hash(context.Background(), "same password")
	b, _ := h.Hash(context.Background(), "same password")
	if a == b {
		t.Error("two hashes of one password are equal")
	}
}

func TestDefaults(t *testing.T) {
	h, err := NewHasher(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("encoded = %q", enc)
	}
	if ok, err := h.Verify(ctx, enc, "correct horse battery"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
	if ok, _ := h.Verify(ctx, enc, "correct horse batterY"); ok {
		t.Error("wrong password verified")
	}
	if h.NeedsRehash(enc) {
		t.Error("fresh default hash needs rehash")
	}
}

// TestKnownHash pins the encoding against a fixed salt, so a change in how the key or
// the string is built shows up.
func TestKnownHash(t *testing.T) {
	salt := []byte("0123456789abcdef")
	got := encode(weak, salt, argon2id([]byte("password"), salt, weak, keyLen))
	h := newWeak(t, Config{})
	if ok, err := h.Verify(context.Background(), got, "password"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if !strings.HasPrefix(got, "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$") {
		t.Errorf("encoded = %s", got)
	}
}

// TestVerifyOtherKeyLength checks that the hash length comes from the encoded string.
func TestVerifyOtherKeyLength(t *testing.T) {
	salt := []byte("0123456789abcdef")
	enc := encode(weak, salt, argon2id([]byte("password"), salt, weak, 16))
	h := newWeak(t, Config{})
	if ok, err := h.Verify(context.Background(), enc, "password"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
	if !h.NeedsRehash(enc) {
		t.Error("16-byte hash does not need rehash")
	}
}

func TestTampered(t *testing.T) {
	h := newWeak(t, Config{})
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "correct horse battery")
	parts := strings.Split(enc, "$")
	tests := []struct {
		name  string
		field int
		value string
	}{
		{"salt", 4, flipFirst(parts[4])},
		{"hash", 5, flipFirst(parts[5])},
		{"memory", 3, "m=65,t=1,p=1"},
		{"time", 3, "m=64,t=2,p=1"},
		{"threads", 3, "m=64,t=1,p=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := append([]string(nil), parts...)
			p[tt.field] = tt.value
			ok, err := h.Verify(ctx, strings.Join(p, "$"), "correct horse battery")
			if ok || err != nil {
				t.Errorf("Verify = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

// flipFirst changes the first base64 character so the decoded bytes differ.
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestMalformed(t *testing.T) {
	const salt, key = "MDEyMzQ1Njc4OWFiY2RlZg", "c2VjcmV0LWhhc2gtYnl0ZXMtMzItYnl0ZXMtbG9uZyE"
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuu5Cz4Qj5Yz3m5jv6o5Qq5eL6P8Yqz5e."},
		{"argon2i", strings.Replace(valid, "argon2id", "argon2i", 1)},
		{"upper case", strings.Replace(valid, "argon2id", "ARGON2ID", 1)},
		{"version 16", strings.Replace(valid, "v=19", "v=16", 1)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", valid + "$x"},
		{"leading text", "x" + valid},
		{"params order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"params spaces", "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + key},
		{"params plus", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"params leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"params negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"params extra", "$argon2id$v=19$m=64,t=1,p=1,k=1$" + salt + "$" + key},
		{"params keyid", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflow", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"memory below 8p", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"time 0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"time 21", "$argon2id$v=19$m=64,t=21,p=1$" + salt + "$" + key},
		{"threads 0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads 17", "$argon2id$v=19$m=256,t=1,p=17$" + salt + "$" + key},
		{"threads 256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"url base64 salt", "$argon2id$v=19$m=64,t=1,p=1$" + "MDEy_zQ1Njc4OWFiY2RlZg$" + key},
		{"non-canonical salt", "$argon2id$v=19$m=64,t=1,p=1$" + "MDEyMzQ1Njc4OWFiY2RlZh$" + key},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Ng$" + key},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"short hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$c2VjcmV0"},
		{"long hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 88)},
		{"too long", valid + strings.Repeat("A", 300)},
	}
	h := newWeak(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), tt.enc, "password")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v; want ErrMalformedHash", ok, err)
			}
			for _, part := range strings.Split(tt.enc, "$") {
				if len(part) > len("argon2id") && strings.Contains(err.Error(), part) {
					t.Errorf("error %q quotes the input %q", err, part)
				}
			}
			if !h.NeedsRehash(tt.enc) {
				t.Error("malformed hash does not need rehash")
			}
		})
	}
	if _, err := decode(valid); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	h := newWeak(t, Config{})
	current, _ := h.Hash(context.Background(), "password")
	salt, key := "MDEyMzQ1Njc4OWFiY2RlZg", "c2VjcmV0LWhhc2gtYnl0ZXMtMzItYnl0ZXMtbG9uZyE"
	tests := []struct {
		name, enc string
		want      bool
	}{
		{"current", current, false},
		{"same params other salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key, false},
		{"lower memory", "$argon2id$v=19$m=32,t=1,p=1$" + salt + "$" + key, true},
		{"higher time", "$argon2id$v=19$m=64,t=3,p=1$" + salt + "$" + key, true},
		{"more threads", "$argon2id$v=19$m=64,t=1,p=2$" + salt + "$" + key, true},
		{"longer salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "AAAA$" + key, true},
		{"malformed", "$argon2id$v=19$", true},
	}
	for _, tt := range tests {
		if got := h.NeedsRehash(tt.enc); got != tt.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNewHasherConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"weak", Config{Params: weak}, ErrWeakParams},
		{"weak allowed", Config{Params: weak, AllowWeak: true}, nil},
		{"OWASP memory below", Config{Params: Params{19455, 2, 1}}, ErrWeakParams},
		{"OWASP time below", Config{Params: Params{19456, 1, 1}}, ErrWeakParams},
		{"OWASP m=7168 t=5", Config{Params: Params{7168, 5, 1}}, nil},
		{"OWASP m=7168 t=4", Config{Params: Params{7168, 4, 1}}, ErrWeakParams},
		{"zero threads", Config{Params: Params{19456, 2, 0}}, ErrInvalidConfig},
		{"zero time", Config{Params: Params{64, 0, 1}, AllowWeak: true}, ErrInvalidConfig},
		{"memory below 8 per thread", Config{Params: Params{15, 1, 2}, AllowWeak: true}, ErrInvalidConfig},
		{"time above bound", Config{Params: Params{19456, 21, 1}}, ErrInvalidConfig},
		{"memory above bound", Config{Params: Params{maxMemory + 1, 2, 1}}, ErrInvalidConfig},
		{"negative concurrency", Config{Params: weak, AllowWeak: true, Concurrency: -1}, ErrInvalidConfig},
		{"negative timeout", Config{Params: weak, AllowWeak: true, QueueTimeout: -1}, ErrInvalidConfig},
		{"broken rand", Config{Params: weak, AllowWeak: true, Rand: bytes.NewReader(nil)}, ErrRandom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHasher(tt.cfg)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("NewHasher = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params != DefaultParams || cfg.Concurrency < 1 ||
		cfg.QueueTimeout != 2*time.Second || cfg.Rand == nil {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestHashRandomFailure(t *testing.T) {
	// Enough bytes for the dummy password and salt, then nothing.
	r := bytes.NewReader(make([]byte, keyLen+saltSize))
	h := newWeak(t, Config{Rand: r})
	if _, err := h.Hash(context.Background(), "password"); !errors.Is(err, ErrRandom) {
		t.Errorf("Hash = %v, want ErrRandom", err)
	}
}

// blocking makes h's first derivation announce itself on started and wait until
// release is closed; later derivations run at once, so a missing bound shows up as a
// call that succeeds, not as a hang.
func blocking(h *Hasher) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	real := h.derive
	var first atomic.Bool
	h.derive = func(pw, salt []byte, p Params, n uint32) []byte {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return real(pw, salt, p, n)
	}
	return started, release
}

func TestBusy(t *testing.T) {
	h := newWeak(t, Config{Concurrency: 1, QueueTimeout: 10 * time.Millisecond})
	started, release := blocking(h)
	ctx := context.Background()

	done := make(chan error)
	go func() {
		_, err := h.Hash(ctx, "holder")
		done <- err
	}()
	<-started // the only slot is now held

	if _, err := h.Hash(ctx, "second"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash while busy = %v, want ErrBusy", err)
	}
	if _, err := h.Verify(ctx, h.dummy, "second"); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify while busy = %v, want ErrBusy", err)
	}
	if err := h.VerifyDummy(ctx, "second"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy while busy = %v, want ErrBusy", err)
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if _, err := h.Hash(ctx, "third"); err != nil {
		t.Errorf("Hash after release = %v", err)
	}
}

// TestBusyContext cancels a waiting caller; the queue timeout is long, so only the
// context can end the wait.
func TestBusyContext(t *testing.T) {
	h := newWeak(t, Config{Concurrency: 1, QueueTimeout: time.Hour})
	started, release := blocking(h)
	go func() { _, _ = h.Hash(context.Background(), "holder") }()
	<-started
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := h.Verify(ctx, h.dummy, "waiter")
		done <- err
	}()
	cancel()
	err := <-done
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify = %v, want ErrBusy wrapping context.Canceled", err)
	}
}

// TestDoneContextDoesNoWork checks that a caller that has gone away gets no slot even
// when one is free.
func TestDoneContextDoesNoWork(t *testing.T) {
	h := newWeak(t, Config{})
	var calls atomic.Int32
	h.derive = func(pw, salt []byte, p Params, n uint32) []byte {
		calls.Add(1)
		return make([]byte, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash = %v, want ErrBusy", err)
	}
	if calls.Load() != 0 {
		t.Error("a cancelled caller ran argon2")
	}
}

// TestConcurrencyBound runs many verifications and checks no more than Concurrency
// run at once.
func TestConcurrencyBound(t *testing.T) {
	const limit = 2
	h := newWeak(t, Config{Concurrency: limit, QueueTimeout: time.Minute})
	var running, peak atomic.Int32
	real := h.derive
	h.derive = func(pw, salt []byte, p Params, n uint32) []byte {
		now := running.Add(1)
		defer running.Add(-1)
		for {
			old := peak.Load()
			if now <= old || peak.CompareAndSwap(old, now) {
				break
			}
		}
		return real(pw, salt, p, n)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := h.VerifyDummy(context.Background(), "password"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak.Load() > limit {
		t.Errorf("%d hashes ran at once, limit %d", peak.Load(), limit)
	}
}

func TestVerifyDummy(t *testing.T) {
	h := newWeak(t, Config{})
	if err := h.VerifyDummy(context.Background(), "password"); err != nil {
		t.Errorf("VerifyDummy = %v", err)
	}
	d, err := decode(h.dummy)
	if err != nil || d.params != h.params || len(d.key) != keyLen || len(d.salt) != saltSize {
		t.Errorf("dummy %q is not a current hash: %v", h.dummy, err)
	}
	if h.NeedsRehash(h.dummy) {
		t.Error("dummy needs rehash")
	}
}

// TestVerifyDummyWork checks the dummy spends one derivation with the current
// parameters, like Verify of a current hash.
func TestVerifyDummyWork(t *testing.T) {
	h := newWeak(t, Config{})
	var got []Params
	real := h.derive
	h.derive = func(pw, salt []byte, p Params, n uint32) []byte {
		got = append(got, p)
		return real(pw, salt, p, n)
	}
	if err := h.VerifyDummy(context.Background(), "password"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != h.params {
		t.Errorf("derivations = %v, want one with %v", got, h.params)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h, err := NewHasher(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDummy(b *testing.B) {
	h, err := NewHasher(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := h.VerifyDummy(context.Background(), "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
