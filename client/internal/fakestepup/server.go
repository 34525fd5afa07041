package fakestepup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// Values the fake uses; tests and examples configure the client with them.
const (
	Issuer        = "https://stepup.test"
	StepupAud     = "stepup"  // the audience of stepup's own RPCs
	DemoAud       = "demo"    // the audience of the demo service
	Password      = "s3cret!" // Login accepts any username with this password
	Code          = "123456"  // VerifySecondFactor accepts this code
	AccessTTL     = 15 * time.Minute
	StepUpTTL     = 5 * time.Minute
	StepUpMaxAge  = 5 * time.Minute // RemoveFactor's requirement, with aal2
	revocationBuf = 256
)

// ValidateFunc answers ValidateToken in place of the fake's own verification.
type ValidateFunc func(*stepupv1.ValidateTokenRequest) (*stepupv1.ValidateTokenResponse, error)

// Server is the fake AuthService and AccountService. Its methods are safe for
// concurrent use. Tokens it signs carry both StepupAud and DemoAud.
type Server struct {
	stepupv1.UnimplementedAuthServiceServer
	stepupv1.UnimplementedAccountServiceServer

	clock *Clock

	mu          sync.Mutex
	signing     *token.PrivateKey
	published   []token.Key
	jwks        string
	jwksChanged chan struct{} // closed and replaced when jwks or a knob changes
	watchDown   bool          // WatchJwks fails
	getDown     bool          // GetJwks fails
	holdPushes  bool          // open WatchJwks streams send nothing new

	snapshot *stepupv1.WatchRevocationsResponse
	revSubs  map[chan *stepupv1.WatchRevocationsResponse]struct{}
	revEnd   chan struct{} // closed to end every revocation stream
	revDown  bool

	validate   ValidateFunc
	lastReq    *stepupv1.ValidateTokenRequest
	challenges map[string]*token.Claims
	refresh    map[string]*token.Claims
	seq        int
	calls      map[string]int
}

// New returns a fake that publishes one fresh Ed25519 key and an empty revocation
// list, and reads time from clock.
func New(clock *Clock) *Server {
	s := &Server{
		clock:       clock,
		jwksChanged: make(chan struct{}),
		snapshot:    &stepupv1.WatchRevocationsResponse{Snapshot: true},
		revSubs:     map[chan *stepupv1.WatchRevocationsResponse]struct{}{},
		revEnd:      make(chan struct{}),
		challenges:  map[string]*token.Claims{},
		refresh:     map[string]*token.Claims{},
		calls:       map[string]int{},
	}
	s.RotateKey()
	return s
}

// Register adds the fake's services to g.
func (s *Server) Register(g *grpc.Server) {
	stepupv1.RegisterAuthServiceServer(g, s)
	stepupv1.RegisterAccountServiceServer(g, s)
}

// Start serves a new fake on a bufconn Endpoint.
func Start(clock *Clock) (*Server, *Endpoint) {
	s := New(clock)
	ep := Serve(func() *grpc.Server {
		g := grpc.NewServer()
		s.Register(g)
		return g
	})
	return s, ep
}

// Calls returns how often the named RPC ("GetJwks", "WatchJwks", ...) was called.
func (s *Server) Calls(rpc string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[rpc]
}

func (s *Server) count(rpc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[rpc]++
}

// nextID returns a fresh id with prefix.
func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s%d", prefix, s.seq)
}

// --- Keys ---

// RotateKey creates a new signing key, publishes it next to the old ones (pushing the
// new set to every WatchJwks stream) and only then signs with it, as stepup does. It
// returns the new kid.
func (s *Server) RotateKey() string {
	k, err := token.GenerateKey(token.AlgEdDSA, rand.Reader)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published = append(s.published, k.PublicKey())
	s.publishLocked()
	s.signing = k
	return k.ID
}

// RemoveKey stops publishing the key with kid.
func (s *Server) RemoveKey(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.published {
		if k.ID == kid {
			s.published = append(s.published[:i:i], s.published[i+1:]...)
			break
		}
	}
	s.publishLocked()
}

// KeyID returns the kid of the current signing key.
func (s *Server) KeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing.ID
}

func (s *Server) publishLocked() {
	set, err := token.NewKeySet(s.published...)
	if err != nil {
		panic(err)
	}
	doc, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	s.setJWKSLocked(string(doc))
}

// PublishJSON publishes doc verbatim as the JWK Set, hostile or not.
func (s *Server) PublishJSON(doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setJWKSLocked(doc)
}

func (s *Server) setJWKSLocked(doc string) {
	s.jwks = doc
	close(s.jwksChanged)
	s.jwksChanged = make(chan struct{})
}

// SetWatchJwksDown makes new WatchJwks streams fail with Unavailable and ends the
// open ones.
func (s *Server) SetWatchJwksDown(down bool) { s.setKnob(&s.watchDown, down) }

// SetGetJwksDown makes GetJwks fail with Unavailable.
func (s *Server) SetGetJwksDown(down bool) { s.setKnob(&s.getDown, down) }

// HoldKeyPushes stops open WatchJwks streams from sending changes, as a lagging
// stream would; GetJwks still serves the current set. Releasing sends the current set.
func (s *Server) HoldKeyPushes(hold bool) { s.setKnob(&s.holdPushes, hold) }

func (s *Server) setKnob(knob *bool, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*knob = v
	close(s.jwksChanged)
	s.jwksChanged = make(chan struct{})
}

// GetJwks implements AuthService.
func (s *Server) GetJwks(context.Context, *stepupv1.GetJwksRequest,
) (*stepupv1.GetJwksResponse, error) {
	s.count("GetJwks")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getDown {
		return nil, status.Error(codes.Unavailable, "keys down")
	}
	return &stepupv1.GetJwksResponse{Jwks: &stepupv1.JwkSet{Json: s.jwks}}, nil
}

// WatchJwks implements AuthService: the set at once, then on every change.
func (s *Server) WatchJwks(_ *stepupv1.WatchJwksRequest,
	stream grpc.ServerStreamingServer[stepupv1.WatchJwksResponse]) error {
	s.count("WatchJwks")
	last := ""
	for {
		s.mu.Lock()
		down, hold, doc, changed := s.watchDown, s.holdPushes, s.jwks, s.jwksChanged
		s.mu.Unlock()
		if down {
			return status.Error(codes.Unavailable, "keys down")
		}
		if doc != last && (last == "" || !hold) {
			msg := &stepupv1.WatchJwksResponse{Jwks: &stepupv1.JwkSet{Json: doc}}
			if err := stream.Send(msg); err != nil {
				return err
			}
			last = doc
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// --- Tokens ---

// NewClaims returns claims for a token the fake would issue now: user sub, session
// "sid-"+sub, the given acr, a fresh jti, auth_time now, and a lifetime of StepUpTTL.
func (s *Server) NewClaims(sub, acr string) *token.Claims {
	now := s.clock.Now().Truncate(time.Second)
	amr := []string{token.AMRPassword}
	if acr == token.ACR2 {
		amr = []string{token.AMRPassword, token.AMROTP, token.AMRMFA}
	}
	return &token.Claims{
		Issuer: Issuer, Subject: sub, ClientID: "fake", ID: s.nextID("jti-"),
		SessionID: "sid-" + sub, ACR: acr, Audience: []string{StepupAud, DemoAud}, AMR: amr,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(StepUpTTL), AuthTime: now,
	}
}

// Sign signs c with the current key. It panics if c is incomplete: the fake is for
// tests, where that is a bug in the test.
func (s *Server) Sign(c *token.Claims) string {
	s.mu.Lock()
	k := s.signing
	s.mu.Unlock()
	signer, err := token.NewSigner(k)
	if err != nil {
		panic(err)
	}
	raw, err := signer.Sign(c)
	if err != nil {
		panic(err)
	}
	return raw
}

// Token signs a fresh token for sub at acr.
func (s *Server) Token(sub, acr string) string { return s.Sign(s.NewClaims(sub, acr)) }

// verifier checks tokens the fake signed, for its own RPCs.
func (s *Server) verifier() *token.Verifier {
	s.mu.Lock()
	set, err := token.NewKeySet(s.published...)
	s.mu.Unlock()
	if err != nil {
		panic(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer: Issuer, Audience: StepupAud, Now: s.clock.Now,
		Keys: func() *token.KeySet { return set },
	})
	if err != nil {
		panic(err)
	}
	return v
}

// caller verifies the bearer token of an incoming call.
func (s *Server) caller(ctx context.Context) (*token.Claims, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	raw, err := token.BearerFromMD(md)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid or expired access token")
	}
	c, err := s.verifier().Verify(raw)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid or expired access token")
	}
	return c, nil
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// clone returns a deep copy of a revocation message.
func clone(m *stepupv1.WatchRevocationsResponse) *stepupv1.WatchRevocationsResponse {
	return proto.Clone(m).(*stepupv1.WatchRevocationsResponse)
}
