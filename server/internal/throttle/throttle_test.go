package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1700000000, 0)} }

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

// fail records n failures for key.
func fail(l *Limiter, key string, n int) {
	for range n {
		l.Failure(key)
	}
}

func TestBackoffSchedule(t *testing.T) {
	// With defaults: five free failures, then 1s, 2s, 4s ... capped at 15m.
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, 0}, {5, 0},
		{6, time.Second}, {7, 2 * time.Second}, {8, 4 * time.Second},
		{15, 512 * time.Second}, {16, 15 * time.Minute}, {17, 15 * time.Minute},
		{1000, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.failures), func(t *testing.T) {
			c := newClock()
			l := New(Config{Now: c.Now})
			fail(l, "alice", tt.failures)
			wait, ok := l.Check("alice")
			if wait != tt.want || ok != (tt.want == 0) {
				t.Errorf("Check = (%v, %v), want (%v, %v)", wait, ok, tt.want, tt.want == 0)
			}
		})
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	l := New(Config{Free: -1, Base: time.Hour, Max: 1<<63 - 1, Now: newClock().Now})
	for n := 1; n < 200; n++ {
		if d := l.backoff(n); d <= 0 {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
}

func TestFreeFailures(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 3, Base: time.Second, Now: c.Now})
	for i := range 3 {
		if _, ok := l.Check("k"); !ok {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Failure("k")
	}
	if _, ok := l.Check("k"); !ok {
		t.Fatal("blocked after the free failures alone")
	}
	l.Failure("k")
	if wait, ok := l.Check("k"); ok || wait != time.Second {
		t.Fatalf("after Free+1 failures Check = (%v, %v), want (1s, false)", wait, ok)
	}
}

func TestNoFreeFailures(t *testing.T) {
	l := New(Config{Free: -1, Now: newClock().Now})
	l.Failure("k")
	if wait, ok := l.Check("k"); ok || wait != time.Second {
		t.Errorf("Check = (%v, %v), want (1s, false)", wait, ok)
	}
}

func TestBackoffElapses(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 1, Base: 10 * time.Second, Now: c.Now})
	fail(l, "k", 3) // back-off 20s
	c.Advance(5 * time.Second)
	if wait, ok := l.Check("k"); ok || wait != 15*time.Second {
		t.Errorf("after 5s Check = (%v, %v), want (15s, false)", wait, ok)
	}
	c.Advance(15 * time.Second)
	if _, ok := l.Check("k"); !ok {
		t.Error("still blocked when the back-off ended")
	}
	l.Failure("k") // the count survives: the next back-off doubles again
	if wait, _ := l.Check("k"); wait != 40*time.Second {
		t.Errorf("next back-off = %v, want 40s", wait)
	}
}

func TestMaxBelowBase(t *testing.T) {
	l := New(Config{Free: -1, Base: time.Minute, Max: time.Second, Now: newClock().Now})
	fail(l, "k", 5)
	if wait, _ := l.Check("k"); wait != time.Minute {
		t.Errorf("wait = %v, want Base", wait)
	}
}

func TestSuccessResets(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 2, Now: c.Now})
	fail(l, "k", 4)
	l.Success("k")
	if _, ok := l.Check("k"); !ok {
		t.Fatal("blocked after success")
	}
	fail(l, "k", 2)
	if _, ok := l.Check("k"); !ok {
		t.Error("free failures not restored after success")
	}
	l.Success("unknown") // must not panic
	if l.size() != 1 {
		t.Errorf("size = %d, want 1", l.size())
	}
}

func TestKeysIndependent(t *testing.T) {
	l := New(Config{Free: -1, Now: newClock().Now})
	l.Failure("alice")
	if _, ok := l.Check("bob"); !ok {
		t.Error("a failure for alice blocked bob")
	}
}

func TestForget(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 2, Forget: time.Hour, Now: c.Now})
	fail(l, "k", 2)
	c.Advance(time.Hour - time.Second)
	l.Failure("k") // third failure within the hour: back-off
	if _, ok := l.Check("k"); ok {
		t.Fatal("not blocked on the third failure")
	}
	c.Advance(time.Hour)
	if _, ok := l.Check("k"); !ok {
		t.Fatal("blocked after Forget")
	}
	if l.size() != 0 {
		t.Errorf("forgotten key still stored, size %d", l.size())
	}
	fail(l, "k", 2)
	if _, ok := l.Check("k"); !ok {
		t.Error("the forgotten count came back")
	}
}

// TestForgetWaitsForBackoff checks a Forget shorter than the back-off does not end it.
func TestForgetWaitsForBackoff(t *testing.T) {
	c := newClock()
	l := New(Config{Free: -1, Base: time.Hour, Forget: time.Minute, Now: c.Now})
	l.Failure("k")
	c.Advance(2 * time.Minute)
	if wait, ok := l.Check("k"); ok || wait != 58*time.Minute {
		t.Errorf("Check = (%v, %v), want (58m, false)", wait, ok)
	}
}

// TestForgetPrunes checks forgotten keys are dropped by later failures, not only when
// they are checked.
func TestForgetPrunes(t *testing.T) {
	c := newClock()
	l := New(Config{Forget: time.Minute, Now: c.Now})
	for i := range 100 {
		l.Failure(fmt.Sprint("old", i))
	}
	c.Advance(time.Minute)
	l.Failure("new")
	if l.size() != 1 {
		t.Errorf("size = %d, want 1", l.size())
	}
}

func TestMaxKeysEviction(t *testing.T) {
	c := newClock()
	l := New(Config{Free: -1, Base: time.Minute, MaxKeys: 3, Now: c.Now})
	for _, k := range []string{"a", "b", "c"} {
		l.Failure(k)
		c.Advance(time.Second)
	}
	l.Failure("a") // a is now the newest; b is the oldest
	l.Failure("d")
	if l.size() != 3 {
		t.Fatalf("size = %d, want 3", l.size())
	}
	tests := []struct {
		key     string
		blocked bool
	}{
		{"a", true}, {"b", false}, {"c", true}, {"d", true},
	}
	for _, tt := range tests {
		if _, ok := l.Check(tt.key); ok == tt.blocked {
			t.Errorf("key %s: blocked = %v, want %v", tt.key, !ok, tt.blocked)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.Free != 5 || cfg.Base != time.Second || cfg.Max != 15*time.Minute ||
		cfg.Forget != time.Hour || cfg.MaxKeys != 100000 || cfg.Now == nil {
		t.Errorf("defaults = %+v", cfg)
	}
	l := New(Config{})
	if _, ok := l.Check("k"); !ok {
		t.Error("new key blocked with the real clock")
	}
}

// TestConcurrent counts failures from many goroutines and checks the bookkeeping stays
// consistent; run it with -race.
func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(Config{Free: -1, Base: time.Second, Max: time.Hour, MaxKeys: 50, Now: c.Now})
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprint("k", (g*7+i)%80)
				l.Failure(key)
				l.Check(key)
				l.Failure("shared")
				if i%50 == 0 {
					l.Success(key)
					c.Advance(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()

	if n, m := l.size(), l.lru.Len(); n != m || n > 50 {
		t.Errorf("index has %d keys, list %d, bound 50", n, m)
	}
	// 4000 failures for "shared" reach the cap: the count was not lost.
	if wait, ok := l.Check("shared"); ok || wait != time.Hour {
		t.Errorf("shared Check = (%v, %v), want (1h, false)", wait, ok)
	}
}
