package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// keyring is the in-memory view of the signing keys: the signer of the current key and
// the public set of every published key (next, current, retired). Readers take a
// snapshot with one atomic load, so validation never waits on a rotation.
type keyring struct {
	snap atomic.Pointer[keySnapshot]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the snapshot changes
}

type keySnapshot struct {
	signer *token.Signer
	set    *token.KeySet
	json   []byte              // the JWK Set document
	keys   []*store.SigningKey // without private bytes
}

func (k *keyring) current() *keySnapshot { return k.snap.Load() }

// keySet is the verifier's key source.
func (k *keyring) keySet() *token.KeySet { return k.snap.Load().set }

// publish installs a snapshot and wakes every watcher.
func (k *keyring) publish(snap *keySnapshot) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.snap.Store(snap)
	if k.changed != nil {
		close(k.changed)
	}
	k.changed = make(chan struct{})
}

// watch returns the current snapshot and a channel closed at the next change.
func (k *keyring) watch() (*keySnapshot, <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.snap.Load(), k.changed
}

// Key schedule. A key moves next -> current -> retired -> removed:
//   - a next key is published from its creation, and may start signing only once it has
//     been published for JWKSCacheTTL, so every cached copy of the set already has it;
//   - rotation (scheduled or on demand) sets the next key's ActivateAt; the maintenance
//     loop promotes it at that time, retires the old current key and creates a new next;
//   - a retired key stays published until every token it signed has expired.

// maintainKeys applies the key schedule once and reloads the keys if anything changed.
func (s *Server) maintainKeys() error {
	// One schedule change and its reload at a time, so a slower reload can never
	// publish an older snapshot over a newer one.
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	var changed bool
	err := s.store.Update(func(tx *store.Tx) error {
		var err error
		changed, err = s.applyKeySchedule(tx, s.cfg.Now())
		return err
	})
	if err != nil || !changed {
		return err
	}
	return s.loadKeys()
}

// applyKeySchedule moves keys through their states; it reports whether it changed any.
func (s *Server) applyKeySchedule(tx *store.Tx, now time.Time) (bool, error) {
	keys, err := tx.Keys()
	if err != nil {
		return false, err
	}
	cur, next := byState(keys, store.KeyCurrent), byState(keys, store.KeyNext)
	changed := false
	put := func(k *store.SigningKey) error { changed = true; return tx.PutKey(k) }

	if cur == nil { // first start: nothing can have cached a set yet
		if cur, err = s.newSigningKey(store.KeyCurrent); err != nil {
			return false, err
		}
		cur.ActivateAt = now
		s.log.Info("created signing key", logKeyID, cur.ID)
		if err := put(cur); err != nil {
			return false, err
		}
	}
	if next == nil {
		if next, err = s.newSigningKey(store.KeyNext); err != nil {
			return false, err
		}
		if err := put(next); err != nil {
			return false, err
		}
	}
	if next.ActivateAt.IsZero() && s.cfg.KeyRotationPeriod > 0 &&
		!now.Before(cur.ActivateAt.Add(s.cfg.KeyRotationPeriod)) {
		next.ActivateAt = s.earliestActivation(next, now)
		if err := put(next); err != nil {
			return false, err
		}
	}
	if !next.ActivateAt.IsZero() && !now.Before(next.ActivateAt) {
		if err := s.promote(tx, cur, next, now); err != nil {
			return false, err
		}
		changed = true
	}
	removed, err := s.removeExpiredKeys(tx, keys, now)
	return changed || removed, err
}

// earliestActivation is when a next key may start signing.
func (s *Server) earliestActivation(next *store.SigningKey, now time.Time) time.Time {
	earliest := next.CreatedAt.Add(s.cfg.JWKSCacheTTL)
	if earliest.Before(now) {
		return now
	}
	return earliest
}

// promote makes next the current key and retires cur until its tokens have expired.
func (s *Server) promote(tx *store.Tx, cur, next *store.SigningKey, now time.Time) error {
	cur.State, cur.RetiredAt = store.KeyRetired, now
	cur.RemoveAt = now.Add(s.cfg.AccessTokenTTL + s.cfg.Leeway)
	next.State, next.ActivateAt = store.KeyCurrent, now
	if err := tx.PutKey(cur); err != nil {
		return err
	}
	if err := tx.PutKey(next); err != nil {
		return err
	}
	fresh, err := s.newSigningKey(store.KeyNext)
	if err != nil {
		return err
	}
	s.log.Info("rotated signing key", logKeyID, next.ID, "retired_kid", cur.ID, "next_kid", fresh.ID)
	return tx.PutKey(fresh)
}

func (s *Server) removeExpiredKeys(tx *store.Tx, keys []*store.SigningKey, now time.Time) (bool, error) {
	removed := false
	for _, k := range keys {
		if k.State == store.KeyRetired && !now.Before(k.RemoveAt) {
			if err := tx.DeleteKey(k.ID); err != nil {
				return removed, err
			}
			s.log.Info("removed retired signing key", logKeyID, k.ID)
			removed = true
		}
	}
	return removed, nil
}

func byState(keys []*store.SigningKey, state store.KeyState) *store.SigningKey {
	for _, k := range keys {
		if k.State == state {
			return k
		}
	}
	return nil
}

// rotateNow schedules the next key to sign as soon as it has been published for a
// cache period, and applies the schedule. It returns the next key and its start.
func (s *Server) rotateNow() (*store.SigningKey, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	var next *store.SigningKey
	err := s.store.Update(func(tx *store.Tx) error {
		now := s.cfg.Now()
		if _, err := s.applyKeySchedule(tx, now); err != nil {
			return err
		}
		keys, err := tx.Keys()
		if err != nil {
			return err
		}
		next = byState(keys, store.KeyNext)
		if next.ActivateAt.IsZero() {
			next.ActivateAt = s.earliestActivation(next, now)
			if err := tx.PutKey(next); err != nil {
				return err
			}
		}
		_, err = s.applyKeySchedule(tx, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return next, s.loadKeys()
}

// RunKeyMaintenance applies the key schedule every KeyCheckInterval until ctx ends.
func (s *Server) RunKeyMaintenance(ctx context.Context) {
	t := time.NewTicker(s.cfg.KeyCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.maintainKeys(); err != nil {
				s.log.Error("key maintenance failed", logErr, err)
			}
		}
	}
}

// newSigningKey generates a key in the given state.
func (s *Server) newSigningKey(state store.KeyState) (*store.SigningKey, error) {
	priv, err := token.GenerateKey(s.cfg.SigningAlg, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	der, err := priv.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{
		ID:        priv.ID,
		Alg:       priv.Alg,
		Private:   der,
		State:     state,
		CreatedAt: s.cfg.Now(),
	}, nil
}

// loadKeys reads the keys from the store and publishes a new snapshot.
func (s *Server) loadKeys() error {
	var keys []*store.SigningKey
	err := s.store.View(func(tx *store.Tx) error {
		var err error
		keys, err = tx.Keys()
		return err
	})
	if err != nil {
		return err
	}
	snap, err := buildSnapshot(keys)
	if err != nil {
		return err
	}
	s.keys.publish(snap)
	return nil
}

func buildSnapshot(keys []*store.SigningKey) (*keySnapshot, error) {
	snap := &keySnapshot{}
	public := make([]token.Key, 0, len(keys))
	for _, k := range keys {
		priv, err := token.ParsePrivateKey(k.ID, k.Alg, k.Private)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		public = append(public, priv.PublicKey())
		if k.State == store.KeyCurrent {
			if snap.signer, err = token.NewSigner(priv); err != nil {
				return nil, err
			}
		}
		meta := *k
		meta.Private = nil
		snap.keys = append(snap.keys, &meta)
	}
	if snap.signer == nil {
		return nil, errors.New("no current signing key")
	}
	set, err := token.NewKeySet(public...)
	if err != nil {
		return nil, err
	}
	if snap.json, err = set.MarshalJSON(); err != nil {
		return nil, err
	}
	snap.set = set
	return snap, nil
}
