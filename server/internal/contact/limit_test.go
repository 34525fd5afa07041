package contact

import (
	"testing"
	"time"
)

// sendClock is the injected time of the limit tests.
type sendClock struct{ now time.Time }

func (c *sendClock) advance(d time.Duration) { c.now = c.now.Add(d) }

var perDest = []Window{{Period: time.Minute, Max: 1}, {Period: time.Hour, Max: 10}}

// TestAllowOneAMinuteTenAnHour drives the default per-destination limits through an
// hour with an injected clock.
func TestAllowOneAMinuteTenAnHour(t *testing.T) {
	c := &sendClock{now: time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)}
	var sent []time.Time
	send := func() time.Duration {
		var wait time.Duration
		sent, wait = Allow(sent, c.now, perDest)
		return wait
	}

	if w := send(); w != 0 {
		t.Fatalf("first send refused, wait %v", w)
	}
	c.advance(10 * time.Second)
	if w := send(); w != 50*time.Second {
		t.Fatalf("second send within the minute: wait %v, want 50s", w)
	}
	c.advance(50 * time.Second) // exactly a minute after the first
	if w := send(); w != 0 {
		t.Fatalf("send a minute later refused, wait %v", w)
	}
	for i := 3; i <= 10; i++ {
		c.advance(time.Minute)
		if w := send(); w != 0 {
			t.Fatalf("send %d refused, wait %v", i, w)
		}
	}
	// Ten sends in the last 9 minutes: the eleventh waits until the first leaves the hour.
	c.advance(time.Minute)
	first := c.now.Add(-10 * time.Minute)
	if w := send(); w != first.Add(time.Hour).Sub(c.now) {
		t.Fatalf("eleventh send: wait %v, want %v", w, first.Add(time.Hour).Sub(c.now))
	}
	if len(sent) != 10 {
		t.Fatalf("refused send was recorded: %d sends", len(sent))
	}
	c.now = first.Add(time.Hour)
	if w := send(); w != 0 {
		t.Fatalf("send after the first left the hour: wait %v", w)
	}
}

// TestAllowTrims: the stored history never outgrows what a window can count.
func TestAllowTrims(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	var sent []time.Time
	for i := range 100 {
		sent, _ = Allow(sent, now.Add(time.Duration(i)*10*time.Minute), perDest)
	}
	if len(sent) > 10 {
		t.Fatalf("history holds %d sends", len(sent))
	}
	for _, s := range sent {
		if s.Before(now.Add(990*time.Minute - time.Hour)) {
			t.Fatalf("kept a send older than the longest window: %v", s)
		}
	}
}

// TestAllowClockBack: sends recorded "in the future" still count, so stepping the
// clock back does not reset a limit.
func TestAllowClockBack(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	sent, _ := Allow(nil, now, perDest)
	if _, wait := Allow(sent, now.Add(-time.Hour), perDest); wait == 0 {
		t.Fatal("clock stepped back an hour: send allowed")
	}
}

func TestAllowUnsorted(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	sent := []time.Time{now.Add(-10 * time.Second), now.Add(-2 * time.Hour), now.Add(-30 * time.Minute)}
	if _, wait := Allow(sent, now, perDest); wait != 50*time.Second {
		t.Fatalf("wait %v, want 50s", wait)
	}
}

func TestLongest(t *testing.T) {
	if got := Longest(perDest, []Window{{Period: 24 * time.Hour, Max: 20}}); got != 24*time.Hour {
		t.Fatalf("Longest = %v", got)
	}
}
