package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// serviceTokenTTL is the lifetime of a service token, capped by AccessTokenTTL. It is
// short because a service token is not tied to a session that could be ended: removing
// the service is the only revocation, and this is its exposure window at a verifier
// that does not follow the revocation stream.
const serviceTokenTTL = 5 * time.Minute

// secretPrefix marks a service secret, so a leaked one is recognisable in a scan.
const secretPrefix = "sss_"

// serviceMethods take a service token as bearer and nothing else; every other method
// behind the interceptor takes a user token and nothing else, so no user handler can
// ever see a caller without a user.
var serviceMethods = map[string]bool{
	stepupv1.AuthService_ExchangeToken_FullMethodName: true,
}

var (
	// errBadServiceCredential answers an unknown service, a wrong secret and a bad
	// assertion alike.
	errBadServiceCredential = status.Error(codes.Unauthenticated, "invalid service credential")
	// errWrongTokenKind answers a user token on a service method or the reverse.
	errWrongTokenKind  = status.Error(codes.PermissionDenied, "this method does not accept this kind of token")
	errServiceNotFound = status.Error(codes.NotFound, "service not found")
	// errServiceJustRemoved answers AddService for a name removed within the second.
	errServiceJustRemoved = status.Error(codes.FailedPrecondition,
		"a service of this name was removed less than a second ago; try again")
	errServiceExists = status.Error(codes.AlreadyExists, "service already registered")
)

// logService is the log key of a service name.
const logService = "service"

// tokenKindAllowed refuses a service token on a user method and a user token on a
// service method.
func tokenKindAllowed(method string, c *token.Claims) error {
	if serviceMethods[method] != c.IsService() {
		return errWrongTokenKind
	}
	return nil
}

// serviceLiveness checks a verified service token against the store: the service is
// registered and the token was issued to this registration, not to an earlier one
// under the same name.
func serviceLiveness(tx *store.Tx, c *token.Claims) (stepupv1.ValidationReason, error) {
	svc, err := tx.Service(c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return stepupv1.ValidationReason_VALIDATION_REASON_UNKNOWN_USER, nil
	}
	if err != nil {
		return stepupv1.ValidationReason_VALIDATION_REASON_UNSPECIFIED, err
	}
	if !svc.Active() || c.IssuedAt.Before(svc.CreatedAt.Truncate(time.Second)) {
		return stepupv1.ValidationReason_VALIDATION_REASON_REVOKED, nil
	}
	return stepupv1.ValidationReason_VALIDATION_REASON_OK, nil
}

// actorsLive reports whether every service in an exchanged token's act chain is still
// registered: removing a service also stops the tokens it exchanged.
func actorsLive(tx *store.Tx, c *token.Claims) bool {
	for _, name := range c.Actor {
		svc, err := tx.Service(name)
		if err != nil || !svc.Active() || c.IssuedAt.Before(svc.CreatedAt.Truncate(time.Second)) {
			return false
		}
	}
	return true
}

// verifierFor returns the token verifier for an audience: stepup's own, or one per
// registered service, built once and cached. Unregistered audiences get
// errUnknownAudience, so ValidateToken cannot be made to build verifiers without end.
func (s *Server) verifierFor(aud string) (*token.Verifier, error) {
	if aud == "" || aud == s.cfg.Audience {
		return s.verifier, nil
	}
	if !s.serviceActive(aud) {
		return nil, errUnknownAudience
	}
	if v, ok := s.audVerifiers.Load(aud); ok {
		return v.(*token.Verifier), nil
	}
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer: s.cfg.Issuer, Audience: aud, Leeway: s.cfg.Leeway, Now: s.cfg.Now, Keys: s.keys.keySet,
	})
	if err != nil {
		return nil, err
	}
	actual, _ := s.audVerifiers.LoadOrStore(aud, v)
	return actual.(*token.Verifier), nil
}

var errUnknownAudience = invalidArg("audience", "must be stepup's audience or a registered service")

// serviceActive reports whether name is a registered service. A storage error counts
// as not registered: the caller refuses.
func (s *Server) serviceActive(name string) bool {
	if !token.ValidServiceName(name) {
		return false
	}
	active := false
	_ = s.store.View(func(tx *store.Tx) error {
		svc, err := tx.Service(name)
		active = err == nil && svc.Active()
		return nil
	})
	return active
}

// IssueServiceToken authenticates a service by secret or client assertion and
// returns a service token for the requested audience.
func (s *Server) IssueServiceToken(ctx context.Context, req *stepupv1.IssueServiceTokenRequest) (*stepupv1.IssueServiceTokenResponse, error) {
	aud := req.GetAudience()
	if aud == "" {
		aud = s.cfg.Audience
	}
	if aud != s.cfg.Audience && !s.serviceActive(aud) {
		return nil, errUnknownAudience
	}
	name, err := s.authenticateService(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, exp, err := s.issueServiceToken(name, aud)
	if err != nil {
		return nil, s.toStatus(ctx, "issue_service_token", err)
	}
	s.log.InfoContext(ctx, "service token issued", logService, name)
	return &stepupv1.IssueServiceTokenResponse{AccessToken: raw, ExpiresAt: timestamppb.New(exp)}, nil
}

// authenticateService checks the request's credential and returns the service name.
func (s *Server) authenticateService(ctx context.Context, req *stepupv1.IssueServiceTokenRequest) (string, error) {
	var name string
	var err error
	switch cred := req.GetCredential().(type) {
	case *stepupv1.IssueServiceTokenRequest_ClientSecret:
		name, err = s.checkSecret(req.GetService(), cred.ClientSecret)
	case *stepupv1.IssueServiceTokenRequest_ClientAssertion:
		name, err = s.checkAssertion(req.GetService(), cred.ClientAssertion)
	default:
		return "", invalidArg("credential", "client_secret or client_assertion is required")
	}
	if err != nil {
		if errors.Is(err, errBadServiceCredential) {
			s.log.WarnContext(ctx, "service authentication failed", logPeer, peerHost(ctx))
			return "", err
		}
		return "", s.toStatus(ctx, "issue_service_token", err)
	}
	return name, nil
}

// checkSecret compares a secret's hash with the stored one in constant time. An
// unknown service is compared against a zero hash, so the answer and its timing do
// not say whether the name is registered.
func (s *Server) checkSecret(name, secret string) (string, error) {
	if !token.ValidServiceName(name) || len(secret) > 256 {
		return "", errBadServiceCredential
	}
	var want []byte
	err := s.store.View(func(tx *store.Tx) error {
		svc, err := tx.Service(name)
		if err == nil && svc.Active() {
			want = svc.SecretHash
		}
		return notFoundAs(err, nil)
	})
	if err != nil {
		return "", err
	}
	got := hashSecret(secret)
	if len(want) != len(got) {
		want = make([]byte, len(got))
		subtle.ConstantTimeCompare(want, got)
		return "", errBadServiceCredential
	}
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return "", errBadServiceCredential
	}
	return name, nil
}

// checkAssertion verifies an RFC 7523 client assertion and spends its jti.
func (s *Server) checkAssertion(name, raw string) (string, error) {
	a, err := token.VerifyAssertion(raw, token.AssertionConfig{
		Audience: s.cfg.Issuer, Leeway: s.cfg.Leeway, Now: s.cfg.Now(), Keys: s.assertionKeys,
	})
	if err != nil || (name != "" && name != a.Service) {
		return "", errBadServiceCredential
	}
	err = s.store.Update(func(tx *store.Tx) error {
		return tx.UseAssertionID(a.Service, a.ID, a.Expiry.Add(s.cfg.Leeway), s.cfg.Now())
	})
	if errors.Is(err, store.ErrExists) {
		return "", errBadServiceCredential
	}
	return a.Service, err
}

// assertionKeys returns the registered assertion keys of an active service.
func (s *Server) assertionKeys(name string) (*token.KeySet, error) {
	var jwks string
	_ = s.store.View(func(tx *store.Tx) error {
		svc, err := tx.Service(name)
		if err == nil && svc.Active() {
			jwks = svc.JWKS
		}
		return nil
	})
	if jwks == "" {
		return nil, errBadServiceCredential
	}
	return token.ParseJWKS([]byte(jwks))
}

// issueServiceToken signs a service token: sub = client_id = the service.
func (s *Server) issueServiceToken(name, aud string) (string, time.Time, error) {
	now := s.cfg.Now().Truncate(time.Second)
	exp := now.Add(min(serviceTokenTTL, s.cfg.AccessTokenTTL))
	jti, err := s.newID("")
	if err != nil {
		return "", time.Time{}, err
	}
	claims := &token.Claims{
		Issuer: s.cfg.Issuer, Subject: name, ClientID: name, Audience: []string{aud},
		ID: jti, IssuedAt: now, NotBefore: now, Expiry: exp,
	}
	raw, err := s.keys.current().signer.Sign(claims)
	return raw, exp, err
}

// newSecret makes a service secret: 256 random bits. At that entropy an unsalted
// SHA-256 is enough to store it; a slow hash protects guessable passwords, and this
// is not one.
func (s *Server) newSecret() (string, []byte, error) {
	b, err := s.random(32)
	if err != nil {
		return "", nil, err
	}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret), nil
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// AddService registers a service with a new secret, assertion keys, or both.
func (s *Server) AddService(ctx context.Context, req *stepupv1.AddServiceRequest) (*stepupv1.AddServiceResponse, error) {
	if !token.ValidServiceName(req.GetName()) || req.GetName() == s.cfg.Audience {
		return nil, invalidArg("name", "must match ^[a-z][a-z0-9-]{0,62}$ and not be stepup's audience")
	}
	if req.GetJwks() != "" {
		if _, err := token.ParseJWKS([]byte(req.GetJwks())); err != nil {
			return nil, invalidArg("jwks", "must be a JWK Set of EdDSA or ES256 public keys with kid and alg")
		}
	} else if req.GetWithoutSecret() {
		return nil, invalidArg("jwks", "is required when the service has no secret")
	}
	now := s.cfg.Now()
	svc := &store.Service{Name: req.GetName(), CreatedAt: now, JWKS: req.GetJwks()}
	var secret string
	if !req.GetWithoutSecret() {
		var err error
		if secret, svc.SecretHash, err = s.newSecret(); err != nil {
			return nil, s.toStatus(ctx, "add_service", err)
		}
		svc.SecretRotatedAt = now
	}
	err := s.store.Update(func(tx *store.Tx) error {
		// Tokens are told apart from a removed registration's by iat, in whole seconds:
		// a name removed this very second cannot be registered again until the next.
		if old, err := tx.Service(svc.Name); err == nil && !old.Active() &&
			now.Before(old.RemovedAt.Truncate(time.Second).Add(time.Second)) {
			return errServiceJustRemoved
		}
		return tx.CreateService(svc)
	})
	if errors.Is(err, store.ErrExists) {
		return nil, errServiceExists
	}
	if err != nil {
		return nil, s.toStatus(ctx, "add_service", err)
	}
	s.log.InfoContext(ctx, "service added", logService, svc.Name)
	return &stepupv1.AddServiceResponse{Secret: secret}, nil
}

// ListServices lists the registered services.
func (s *Server) ListServices(ctx context.Context, _ *stepupv1.ListServicesRequest) (*stepupv1.ListServicesResponse, error) {
	resp := &stepupv1.ListServicesResponse{}
	err := s.store.View(func(tx *store.Tx) error {
		return tx.ForEachService(func(svc *store.Service) error {
			if svc.Active() {
				resp.Services = append(resp.Services, serviceProto(svc))
			}
			return nil
		})
	})
	if err != nil {
		return nil, s.toStatus(ctx, "list_services", err)
	}
	return resp, nil
}

func serviceProto(svc *store.Service) *stepupv1.Service {
	p := &stepupv1.Service{Name: svc.Name, CreatedAt: timestamppb.New(svc.CreatedAt),
		HasSecret: len(svc.SecretHash) > 0}
	if !svc.SecretRotatedAt.IsZero() {
		p.SecretRotatedAt = timestamppb.New(svc.SecretRotatedAt)
	}
	if ks, err := token.ParseJWKS([]byte(svc.JWKS)); err == nil {
		for _, k := range ks.Keys() {
			p.KeyIds = append(p.KeyIds, k.ID)
		}
	}
	return p
}

// RemoveService unregisters a service. Its service tokens and the tokens it exchanged
// stop validating at stepup at once, and at local verifiers when they hear of it on
// the revocation stream, where the service appears as a revoked "user" (service names
// cannot collide with user ids).
func (s *Server) RemoveService(ctx context.Context, req *stepupv1.RemoveServiceRequest) (*stepupv1.RemoveServiceResponse, error) {
	batch := s.newBatch()
	err := s.store.Update(func(tx *store.Tx) error {
		svc, err := tx.Service(req.GetName())
		if err != nil {
			return notFoundAs(err, errServiceNotFound)
		}
		if !svc.Active() {
			return errServiceNotFound
		}
		svc.RemovedAt, svc.SecretHash, svc.JWKS = s.cfg.Now(), nil, ""
		batch.service(svc)
		return tx.PutService(svc)
	})
	if err != nil {
		if errors.Is(err, errServiceNotFound) {
			return nil, errServiceNotFound
		}
		return nil, s.toStatus(ctx, "remove_service", err)
	}
	s.audVerifiers.Delete(req.GetName())
	s.revocations.publish(batch)
	s.log.InfoContext(ctx, "service removed", logService, req.GetName())
	return &stepupv1.RemoveServiceResponse{}, nil
}

// RotateServiceSecret gives a service a new secret. Service tokens already issued
// stay valid until they expire (at most serviceTokenTTL).
func (s *Server) RotateServiceSecret(ctx context.Context, req *stepupv1.RotateServiceSecretRequest) (*stepupv1.RotateServiceSecretResponse, error) {
	secret, hash, err := s.newSecret()
	if err != nil {
		return nil, s.toStatus(ctx, "rotate_service_secret", err)
	}
	err = s.store.Update(func(tx *store.Tx) error {
		svc, err := tx.Service(req.GetName())
		if err != nil {
			return notFoundAs(err, errServiceNotFound)
		}
		if !svc.Active() {
			return errServiceNotFound
		}
		svc.SecretHash, svc.SecretRotatedAt = hash, s.cfg.Now()
		return tx.PutService(svc)
	})
	if errors.Is(err, errServiceNotFound) {
		return nil, errServiceNotFound
	}
	if err != nil {
		return nil, s.toStatus(ctx, "rotate_service_secret", err)
	}
	s.log.InfoContext(ctx, "service secret rotated", logService, req.GetName())
	return &stepupv1.RotateServiceSecretResponse{Secret: secret}, nil
}

// service adds a removed service to a revocation batch, as a user whose tokens issued
// up to the removal do not validate. iat has whole seconds, so the cut is the next
// whole second: a token issued in the second of the removal is covered too.
func (b *revBatch) service(svc *store.Service) {
	cut := svc.RemovedAt.Truncate(time.Second).Add(time.Second)
	b.msg.Users = append(b.msg.Users, &stepupv1.UserRevocation{
		UserId: svc.Name, TokensNotBefore: timestamppb.New(cut)})
}

// removedServices adds to a snapshot the services removed recently enough that
// tokens they hold or exchanged may be unexpired.
func removedServices(tx *store.Tx, b *revBatch, now time.Time) error {
	return tx.ForEachService(func(svc *store.Service) error {
		if !svc.Active() && now.Before(svc.RemovedAt.Add(b.tokenLife)) {
			b.service(svc)
		}
		return nil
	})
}
