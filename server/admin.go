package server

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/store"
)

var (
	errUserNotFound  = status.Error(codes.NotFound, "user not found")
	errUsernameTaken = status.Error(codes.AlreadyExists, "username already taken")
)

// CreateUser creates an enabled user.
func (s *Server) CreateUser(ctx context.Context, req *stepupv1.CreateUserRequest) (*stepupv1.CreateUserResponse, error) {
	if err := validUsername(req.GetUsername()); err != nil {
		return nil, err
	}
	if err := password.Validate(req.GetPassword()); err != nil {
		return nil, invalidArg("password", passwordRule(err))
	}
	encoded, err := s.hasher.Hash(ctx, req.GetPassword())
	if err != nil {
		return nil, s.toStatus(ctx, "create_user", err)
	}
	id, err := s.newID("u_")
	if err != nil {
		return nil, s.toStatus(ctx, "create_user", err)
	}
	u := &store.User{ID: id, Username: req.GetUsername(), PasswordHash: encoded, CreatedAt: s.cfg.Now()}
	err = s.store.Update(func(tx *store.Tx) error { return tx.CreateUser(u) })
	if errors.Is(err, store.ErrUsernameTaken) {
		return nil, errUsernameTaken
	}
	if err != nil {
		return nil, s.toStatus(ctx, "create_user", err)
	}
	s.log.InfoContext(ctx, "user created", logUserID, id)
	return &stepupv1.CreateUserResponse{UserId: id}, nil
}

// validUsername allows 1 to 64 printable characters without spaces.
func validUsername(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) {
		return invalidArg("username", "must be 1 to 64 bytes of UTF-8")
	}
	if strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return invalidArg("username", "must not contain spaces or control characters")
	}
	return nil
}

// DisableUser disables a user: logins fail, refresh stops and tokens stop validating.
func (s *Server) DisableUser(ctx context.Context, req *stepupv1.DisableUserRequest) (*stepupv1.DisableUserResponse, error) {
	err := s.adminUpdate(ctx, "disable_user", req.GetUser(), func(_ *store.Tx, u *store.User, _ *revBatch) error {
		u.Disabled = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &stepupv1.DisableUserResponse{}, nil
}

// EnableUser enables a user and clears second-factor lockouts.
func (s *Server) EnableUser(ctx context.Context, req *stepupv1.EnableUserRequest) (*stepupv1.EnableUserResponse, error) {
	err := s.adminUpdate(ctx, "enable_user", req.GetUser(), func(_ *store.Tx, u *store.User, _ *revBatch) error {
		u.Disabled = false
		u.SecondFactorFailures = 0
		u.SecondFactorLockedUntil = time.Time{}
		u.SecondFactorWindowStart, u.SecondFactorWindowFailures = time.Time{}, 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &stepupv1.EnableUserResponse{}, nil
}

// RevokeUserTokens makes every token issued to the user before now stop validating and
// ends the user's sessions, so their refresh tokens stop working too.
func (s *Server) RevokeUserTokens(ctx context.Context, req *stepupv1.RevokeUserTokensRequest) (*stepupv1.RevokeUserTokensResponse, error) {
	now := s.cfg.Now()
	// iat has one-second resolution. Tokens issued earlier in this second are caught by
	// their ended session; a login later in this second starts a new session and works.
	notBefore := now.Truncate(time.Second)
	err := s.adminUpdate(ctx, "revoke_tokens", req.GetUser(), func(tx *store.Tx, u *store.User, b *revBatch) error {
		u.TokensNotBefore = notBefore
		return endOtherSessions(tx, u.ID, "", "revoked", now, b)
	})
	if err != nil {
		return nil, err
	}
	return &stepupv1.RevokeUserTokensResponse{NotBefore: timestamppb.New(notBefore)}, nil
}

// GetUser returns a user.
func (s *Server) GetUser(ctx context.Context, req *stepupv1.GetUserRequest) (*stepupv1.GetUserResponse, error) {
	var u *store.User
	err := s.store.View(func(tx *store.Tx) error {
		var err error
		u, err = lookupUser(tx, req.GetUser())
		return err
	})
	if err != nil {
		return nil, s.toStatus(ctx, "get_user", err)
	}
	return &stepupv1.GetUserResponse{User: userProto(u)}, nil
}

func userProto(u *store.User) *stepupv1.User {
	pb := &stepupv1.User{
		UserId:               u.ID,
		Username:             u.Username,
		Disabled:             u.Disabled,
		CreatedAt:            timestamppb.New(u.CreatedAt),
		Factors:              factorList(u),
		SecondFactorFailures: int32(u.SecondFactorFailures),
	}
	if !u.TokensNotBefore.IsZero() {
		pb.TokensNotBefore = timestamppb.New(u.TokensNotBefore)
	}
	if !u.SecondFactorLockedUntil.IsZero() {
		pb.SecondFactorLockedUntil = timestamppb.New(u.SecondFactorLockedUntil)
	}
	return pb
}

// adminUpdate loads the referenced user, applies fn and stores the result, in one write
// transaction, then tells revocation watchers the user's new state and whatever fn added
// to the batch.
func (s *Server) adminUpdate(ctx context.Context, op string, ref *stepupv1.UserRef,
	fn func(*store.Tx, *store.User, *revBatch) error) error {
	batch := s.newBatch()
	err := s.store.Update(func(tx *store.Tx) error {
		u, err := lookupUser(tx, ref)
		if err != nil {
			return err
		}
		if err := fn(tx, u, batch); err != nil {
			return err
		}
		batch.user(u)
		return tx.PutUser(u)
	})
	if err != nil {
		return s.toStatus(ctx, op, err)
	}
	s.revocations.publish(batch)
	s.log.InfoContext(ctx, "admin: "+op, "user", userRefLog(ref))
	return nil
}

func lookupUser(tx *store.Tx, ref *stepupv1.UserRef) (*store.User, error) {
	var (
		u   *store.User
		err error
	)
	switch r := ref.GetRef().(type) {
	case *stepupv1.UserRef_UserId:
		u, err = tx.User(r.UserId)
	case *stepupv1.UserRef_Username:
		u, err = tx.UserByUsername(r.Username)
	default:
		return nil, invalidArg("user", "set user_id or username")
	}
	return u, notFoundAs(err, errUserNotFound)
}

// userRefLog names a user for the audit log: admins act on names they typed.
func userRefLog(ref *stepupv1.UserRef) string {
	if id := ref.GetUserId(); id != "" {
		return id
	}
	return "username:" + ref.GetUsername()
}

// RevokeToken makes one access token stop validating. The record is kept until every
// token that could carry the jti has expired.
func (s *Server) RevokeToken(ctx context.Context, req *stepupv1.RevokeTokenRequest) (*stepupv1.RevokeTokenResponse, error) {
	id := req.GetTokenId()
	if id == "" || len(id) > maxIDLen {
		return nil, invalidArg("token_id", "must be 1 to 64 bytes")
	}
	now := s.cfg.Now()
	rec := &store.RevokedToken{ID: id, RevokedAt: now, RelevantUntil: now.Add(s.cfg.AccessTokenTTL + s.cfg.Leeway)}
	if err := s.store.Update(func(tx *store.Tx) error { return tx.PutRevokedToken(rec) }); err != nil {
		return nil, s.toStatus(ctx, "revoke_token", err)
	}
	batch := s.newBatch()
	batch.token(rec)
	s.revocations.publish(batch)
	s.log.InfoContext(ctx, "admin: revoke_token", logTokenID, id)
	return &stepupv1.RevokeTokenResponse{}, nil
}

// ListSigningKeys lists the signing keys.
func (s *Server) ListSigningKeys(_ context.Context, _ *stepupv1.ListSigningKeysRequest) (*stepupv1.ListSigningKeysResponse, error) {
	resp := &stepupv1.ListSigningKeysResponse{}
	for _, k := range s.keys.current().keys {
		resp.Keys = append(resp.Keys, &stepupv1.SigningKey{
			Kid:        k.ID,
			Alg:        k.Alg,
			State:      string(k.State),
			CreatedAt:  timestamppb.New(k.CreatedAt),
			ActivateAt: optionalTime(k.ActivateAt),
			RetiredAt:  optionalTime(k.RetiredAt),
			RemoveAt:   optionalTime(k.RemoveAt),
		})
	}
	return resp, nil
}

// RotateSigningKey starts a rotation: the next key signs as soon as it has been
// published for one JWKS cache period.
func (s *Server) RotateSigningKey(ctx context.Context, _ *stepupv1.RotateSigningKeyRequest) (*stepupv1.RotateSigningKeyResponse, error) {
	next, err := s.rotateNow()
	if err != nil {
		return nil, s.toStatus(ctx, "rotate_key", err)
	}
	s.log.InfoContext(ctx, "admin: rotate_key", logKeyID, next.ID, "activate_at", next.ActivateAt)
	return &stepupv1.RotateSigningKeyResponse{NextKid: next.ID, ActivateAt: timestamppb.New(next.ActivateAt)}, nil
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
