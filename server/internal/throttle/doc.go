// Package throttle slows down password guessing with an in-memory, bounded, keyed
// back-off.
//
// The server keeps one Limiter keyed by username, whether or not the user exists, so the
// reply does not tell an attacker which names are real, and one keyed by client address.
// Each key gets a few free failures, then a back-off that doubles with each further
// failure up to a cap. A success clears the key, and a key with no recent failure is
// forgotten.
//
// State lives in memory, so a restart clears it, and it is bounded: when MaxKeys keys are
// tracked, the one whose last failure is oldest is evicted. That bound is also a
// weakness: an attacker who can cause MaxKeys fresh failures (from many addresses, for
// example) can push a victim's key out. The per-address limiter makes that expensive,
// and counters that must survive restarts and floods, such as the per-user limit on
// second-factor attempts, belong in the store instead.
package throttle
