package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// foreignSigner signs with a key the server has never seen. With kid set it claims the
// server's key id, so only the signature gives it away.
func foreignSigner(t *testing.T, kid string) *token.Signer {
	t.Helper()
	k, err := token.GenerateKey(token.AlgEdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		k.ID = kid
	}
	s, err := token.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serverSigner is the server's own current signer.
func (h *harness) serverSigner() *token.Signer { return h.srv.keys.current().signer }

// resign returns tok's claims, changed by mutate, signed by signer.
func (h *harness) resign(tok string, signer *token.Signer, mutate func(*token.Claims)) string {
	h.t.Helper()
	c := h.claimsOf(tok)
	mutate(c)
	return signWith(h.t, signer, c)
}

// withType re-signs tok's payload with the server's own key under a different typ
// header, which token.Signer cannot do.
func (h *harness) withType(tok, typ string) string {
	h.t.Helper()
	var keys []*store.SigningKey
	err := h.store.View(func(tx *store.Tx) error {
		var err error
		keys, err = tx.Keys()
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	var priv *token.PrivateKey
	for _, k := range keys {
		if k.State == store.KeyCurrent {
			if priv, err = token.ParsePrivateKey(k.ID, k.Alg, k.Private); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	if priv == nil {
		h.t.Fatal("no current signing key")
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", priv.ID)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv.Signer.(ed25519.PrivateKey)}, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		h.t.Fatal(err)
	}
	jws, err := js.Sign(payload)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// TestBearerRejected: every way of presenting no valid access token to a protected RPC
// gets the same UNAUTHENTICATED status, so the reply does not say which check failed.
func TestBearerRejected(t *testing.T) {
	withAuth := func(h *harness, values ...string) context.Context {
		md := metadata.MD{}
		for _, v := range values {
			md.Append("authorization", v)
		}
		return metadata.NewOutgoingContext(h.ctx(), md)
	}
	tests := []struct {
		name string
		ctx  func(h *harness, tok string) context.Context
	}{
		{"no metadata", func(h *harness, _ string) context.Context { return h.ctx() }},
		{"two authorization values", func(h *harness, tok string) context.Context {
			return withAuth(h, "Bearer "+tok, "Bearer "+tok)
		}},
		{"basic scheme", func(h *harness, _ string) context.Context { return withAuth(h, "Basic x") }},
		{"no scheme", func(h *harness, tok string) context.Context { return withAuth(h, tok) }},
		{"empty bearer", func(h *harness, _ string) context.Context { return withAuth(h, "Bearer ") }},
		{"garbage token", func(h *harness, _ string) context.Context { return h.bearer("not.a.token") }},
		{"foreign key", func(h *harness, tok string) context.Context {
			return h.bearer(h.resign(tok, foreignSigner(t, ""), func(*token.Claims) {}))
		}},
		{"foreign key with our kid", func(h *harness, tok string) context.Context {
			return h.bearer(h.resign(tok, foreignSigner(t, h.serverSigner().KeyID()), func(*token.Claims) {}))
		}},
		{"another issuer", func(h *harness, tok string) context.Context {
			return h.bearer(h.resign(tok, h.serverSigner(), func(c *token.Claims) { c.Issuer = "elsewhere" }))
		}},
		{"expired", func(h *harness, tok string) context.Context {
			h.clock.Advance(15*time.Minute + 30*time.Second + time.Second)
			return h.bearer(tok)
		}},
		{"logged out", func(h *harness, tok string) context.Context {
			if _, err := h.auth.Logout(h.bearer(tok), &stepupv1.LogoutRequest{}); err != nil {
				t.Fatal(err)
			}
			return h.bearer(tok)
		}},
	}
	want := statusBytes(t, errBadToken)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createUser("alice")
			tok := h.login("alice").GetAccessToken()
			if _, err := h.account.ListFactors(h.bearer(tok), &stepupv1.ListFactorsRequest{}); err != nil {
				t.Fatalf("control: ListFactors with the valid token: %v", err)
			}
			_, err := h.account.ListFactors(tc.ctx(h, tok), &stepupv1.ListFactorsRequest{})
			wantCode(t, err, codes.Unauthenticated)
			if got := statusBytes(t, err); string(got) != string(want) {
				t.Fatalf("status %v, want exactly %v", err, errBadToken)
			}
		})
	}
}

// TestPublicMethods: the methods a caller uses to obtain or check a token need none,
// and ignore a bad one; everything else is denied by default, even methods that are not
// implemented.
func TestPublicMethods(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	login := h.login("alice")
	health := healthpb.NewHealthClient(h.conn)

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Login", func(ctx context.Context) error {
			_, err := h.auth.Login(ctx, &stepupv1.LoginRequest{Username: "alice", Password: testPassword})
			return err
		}},
		{"ValidateToken", func(ctx context.Context) error {
			resp, err := h.auth.ValidateToken(ctx, &stepupv1.ValidateTokenRequest{Token: login.GetAccessToken()})
			if err == nil && !resp.GetValid() {
				t.Errorf("ValidateToken: %v", resp.GetReason())
			}
			return err
		}},
		{"RefreshToken", func(ctx context.Context) error {
			fresh := h.login("alice") // each call spends a refresh token
			_, err := h.auth.RefreshToken(ctx, &stepupv1.RefreshTokenRequest{RefreshToken: fresh.GetRefreshToken()})
			return err
		}},
		{"Health", func(ctx context.Context) error {
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health: %v", resp.GetStatus())
			}
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(h.ctx()); err != nil {
				t.Fatalf("without a token: %v", err)
			}
			junk := metadata.AppendToOutgoingContext(h.ctx(), "authorization", "Basic junk")
			if err := tc.call(junk); err != nil {
				t.Fatalf("with a junk authorization header: %v", err)
			}
		})
	}

}

// TestDefaultDeny: every method of the public listener that is not on the public list,
// unary or streaming, implemented or not, refuses a call without a bearer token before
// the handler runs.
func TestDefaultDeny(t *testing.T) {
	h := newHarness(t)
	checked := 0
	for _, sd := range []grpc.ServiceDesc{stepupv1.AuthService_ServiceDesc, stepupv1.AccountService_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range sd.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			method := "/" + sd.ServiceName + "/" + name
			if publicMethods[method] {
				continue
			}
			checked++
			// An empty message decodes as any request type with every field unset.
			stream, err := h.conn.NewStream(h.ctx(), &grpc.StreamDesc{ServerStreams: true}, method)
			if err == nil {
				err = stream.SendMsg(&emptypb.Empty{})
			}
			if err == nil {
				err = stream.CloseSend()
			}
			if err == nil {
				err = stream.RecvMsg(&emptypb.Empty{})
			}
			if st := status.Convert(err); st.Code() != codes.Unauthenticated ||
				st.Message() != status.Convert(errBadToken).Message() {
				t.Errorf("%s without a token: %v", method, err)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d protected methods found", checked)
	}
}

// TestRefreshNeedsNoBearerMessage: a bad refresh token is answered as such, not with the
// bearer-token message the interceptor uses, which shows RefreshToken skips it.
func TestRefreshNeedsNoBearerMessage(t *testing.T) {
	h := newHarness(t)
	_, err := h.auth.RefreshToken(h.ctx(), &stepupv1.RefreshTokenRequest{RefreshToken: "srt_nope"})
	st := wantCode(t, err, codes.Unauthenticated)
	if st.Message() != status.Convert(errBadRefresh).Message() {
		t.Fatalf("message %q", st.Message())
	}
}
