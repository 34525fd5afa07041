package server

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// keyring is the in-memory view of the signing keys: the signer of the current key and
// the public set of every published key (next, current, retired). Readers take a
// snapshot with one atomic load, so validation never waits on a rotation.
type keyring struct {
	snap atomic.Pointer[keySnapshot]
}

type keySnapshot struct {
	signer *token.Signer
	set    *token.KeySet
	keys   []*store.SigningKey // without private bytes
}

func (k *keyring) current() *keySnapshot { return k.snap.Load() }

// keySet is the verifier's key source.
func (k *keyring) keySet() *token.KeySet { return k.snap.Load().set }

// ensureSigningKey creates and stores a current key when the store has none, so the
// first start of a fresh data directory can issue tokens at once.
func (s *Server) ensureSigningKey() error {
	return s.store.Update(func(tx *store.Tx) error {
		keys, err := tx.Keys()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.State == store.KeyCurrent {
				return nil
			}
		}
		k, err := s.newSigningKey(store.KeyCurrent)
		if err != nil {
			return err
		}
		s.log.Info("created signing key", logKeyID, k.ID, "alg", k.Alg)
		return tx.PutKey(k)
	})
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
	now := s.cfg.Now()
	return &store.SigningKey{
		ID:        priv.ID,
		Alg:       priv.Alg,
		Private:   der,
		State:     state,
		CreatedAt: now,
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
	s.keys.snap.Store(snap)
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
	snap.set = set
	return snap, nil
}
