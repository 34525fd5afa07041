package contact

import (
	"slices"
	"time"
)

// Window allows at most Max sends in any span of Period (a sliding window).
type Window struct {
	Period time.Duration
	Max    int
}

// Allow decides whether one more send may happen at now, given the earlier send times
// (oldest first) and the windows that all must hold. When it may, Allow returns the
// history to store, with now appended, and a zero wait. When it may not, it returns
// the history unchanged but trimmed, and how long until a send would be allowed.
//
// The history is trimmed to what any window can still count: sends older than the
// longest period, and beyond the largest Max, are dropped. A send time after now (the
// clock stepped back) still counts, so moving the clock does not reset a limit.
func Allow(sent []time.Time, now time.Time, limits []Window) ([]time.Time, time.Duration) {
	kept := trim(sent, now, limits)
	var wait time.Duration
	for _, w := range limits {
		wait = max(wait, waitFor(kept, now, w))
	}
	if wait > 0 {
		return kept, wait
	}
	return append(kept, now), 0
}

// waitFor is how long until w admits one more send: zero if it does now, else the time
// until the oldest send that keeps the window full leaves it.
func waitFor(sent []time.Time, now time.Time, w Window) time.Duration {
	if w.Max <= 0 || w.Period <= 0 {
		return 0
	}
	in := inWindow(sent, now, w.Period)
	if len(in) < w.Max {
		return 0
	}
	leaves := in[len(in)-w.Max].Add(w.Period)
	return max(leaves.Sub(now), time.Second)
}

// inWindow returns the sends within period before now, oldest first.
func inWindow(sent []time.Time, now time.Time, period time.Duration) []time.Time {
	from := now.Add(-period)
	i, _ := slices.BinarySearchFunc(sent, from, func(t, target time.Time) int {
		if t.After(target) {
			return 1
		}
		return -1
	})
	return sent[i:]
}

// trim keeps the sends that a window can still count, sorted.
func trim(sent []time.Time, now time.Time, limits []Window) []time.Time {
	var longest time.Duration
	most := 0
	for _, w := range limits {
		longest, most = max(longest, w.Period), max(most, w.Max)
	}
	kept := slices.Clone(sent)
	slices.SortFunc(kept, func(a, b time.Time) int { return a.Compare(b) })
	kept = inWindow(kept, now, longest)
	if len(kept) > most {
		kept = kept[len(kept)-most:]
	}
	return slices.Clip(kept)
}

// Longest returns the longest period among the windows: history older than that no
// longer counts anywhere.
func Longest(limits ...[]Window) time.Duration {
	var longest time.Duration
	for _, ws := range limits {
		for _, w := range ws {
			longest = max(longest, w.Period)
		}
	}
	return longest
}
