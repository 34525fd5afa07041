package fakestepup

import (
	"sync"
	"time"
)

// T0 is the time a new Clock starts at: whole seconds, as token times are.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a fake clock that moves only when told to. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at T0.
func NewClock() *Clock { return &Clock{now: T0} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
