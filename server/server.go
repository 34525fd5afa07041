package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/server/internal/throttle"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// Server implements AuthService, AccountService and AdminService.
type Server struct {
	stepupv1.UnimplementedAuthServiceServer
	stepupv1.UnimplementedAccountServiceServer
	stepupv1.UnimplementedAdminServiceServer

	cfg      Config
	log      *slog.Logger
	store    *store.Store
	hasher   *password.Hasher
	verifier *token.Verifier
	keys     keyring
	keyMu    sync.Mutex // serializes key schedule changes with their reload

	revocations revocationHub

	// audVerifiers caches one *token.Verifier per registered service audience.
	audVerifiers sync.Map

	// Failed logins are throttled per username and per client address, in memory: a
	// restart forgets them, which costs an attacker a restart they cannot cause.
	userThrottle *throttle.Limiter
	addrThrottle *throttle.Limiter
}

// New builds a server on an open store. It creates a signing key on first start.
func New(st *store.Store, cfg Config) (*Server, error) {
	if st == nil {
		return nil, errors.New("server: nil store")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hasher, err := password.NewHasher(cfg.Password)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		store:        st,
		hasher:       hasher,
		userThrottle: throttle.New(cfg.LoginThrottle),
		addrThrottle: throttle.New(cfg.LoginThrottle),
	}
	if err := s.maintainKeys(); err != nil {
		return nil, err
	}
	if err := s.loadKeys(); err != nil {
		return nil, err
	}
	s.verifier, err = token.NewVerifier(token.VerifierConfig{
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		Leeway:   cfg.Leeway,
		Now:      cfg.Now,
		Keys:     s.keys.keySet,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// KeySet returns the published verification keys.
func (s *Server) KeySet() *token.KeySet { return s.keys.keySet() }

// Purge deletes expired challenges, refresh tokens and sessions. The caller runs it
// periodically.
func (s *Server) Purge(ctx context.Context) (int, error) {
	// Ended sessions are kept while tokens they issued may be unexpired, so a revocation
	// snapshot still lists them.
	cutoff := s.cfg.Now().Add(-s.cfg.AccessTokenTTL - s.cfg.Leeway)
	var n int
	err := s.store.Update(func(tx *store.Tx) error {
		var err error
		if n, err = tx.Purge(cutoff); err != nil {
			return err
		}
		sends, err := tx.PurgeSendLogs(s.sendLogCutoff())
		n += sends
		return err
	})
	return n, err
}
