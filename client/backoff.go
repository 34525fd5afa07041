package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is exponential back-off with jitter for reopening watch streams, so that
// many services do not reconnect to a restarted stepup in lockstep.
type backoff struct {
	base, max, cur time.Duration
}

func newBackoff(t tuning) *backoff { return &backoff{base: t.backoffBase, max: t.backoffMax} }

// next returns the wait before the next attempt: the current step, doubled each time
// up to max, with up to 50% taken off at random. Jitter needs no cryptographic
// randomness.
func (b *backoff) next() time.Duration {
	b.cur = min(max(b.cur*2, b.base), b.max)
	return b.cur - time.Duration(rand.Int64N(int64(b.cur)/2+1))
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
