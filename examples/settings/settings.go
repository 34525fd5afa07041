// Package settings is an example of a service protected by stepup: an account-settings
// service where reading the profile needs any valid token and changing the email needs a
// stepped-up token from the last five minutes. The wiring in NewServer is what a service
// owner adds; the rest is the service itself.
package settings

import (
	"context"
	"net/mail"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client"
	settingsv1 "github.com/stepup/stepup/gen/stepup/examples/settings/v1"
	"github.com/stepup/stepup/token"
)

// Policy says what each method demands. Anything not named needs a valid token.
var Policy = client.Policy{
	Public: []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"},
	Methods: map[string]client.Rule{
		settingsv1.SettingsService_ChangeEmail_FullMethodName: {ACR: token.ACR2, MaxAge: 5 * time.Minute},
	},
}

// NewServer returns a gRPC server with the settings service behind stepup's interceptors.
func NewServer(v *client.Verifier) *grpc.Server {
	g := grpc.NewServer(
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor(Policy)),
		grpc.ChainStreamInterceptor(v.StreamServerInterceptor(Policy)),
	)
	settingsv1.RegisterSettingsServiceServer(g, &Service{emails: map[string]string{}})
	healthpb.RegisterHealthServer(g, health.NewServer())
	return g
}

// Service keeps emails in memory, keyed by stepup's user id (the token's sub).
type Service struct {
	settingsv1.UnimplementedSettingsServiceServer

	mu     sync.Mutex
	emails map[string]string
}

// GetProfile returns the caller's profile.
func (s *Service) GetProfile(ctx context.Context, _ *settingsv1.GetProfileRequest) (*settingsv1.GetProfileResponse, error) {
	claims, ok := client.ClaimsFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &settingsv1.GetProfileResponse{UserId: claims.Subject, Email: s.emails[claims.Subject], Acr: claims.ACR}, nil
}

// ChangeEmail sets the caller's email. The interceptor has already required aal2.
func (s *Service) ChangeEmail(ctx context.Context, req *settingsv1.ChangeEmailRequest) (*settingsv1.ChangeEmailResponse, error) {
	claims, ok := client.ClaimsFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified token")
	}
	addr, err := mail.ParseAddress(req.GetEmail())
	if err != nil || addr.Name != "" {
		return nil, status.Error(codes.InvalidArgument, "email: not a plain address")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[claims.Subject] = addr.Address
	return &settingsv1.ChangeEmailResponse{Email: addr.Address}, nil
}
