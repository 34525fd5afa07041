package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/stepup/stepup/client"
	"github.com/stepup/stepup/examples/chain"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// s2s is a running stepup with registered services and helpers to run chain hops.
type s2s struct {
	*env
	secrets map[string]string
	jobsKey *token.PrivateKey
}

func startS2S(t *testing.T) *s2s {
	e := &s2s{env: start(t), secrets: map[string]string{}}
	for _, name := range []string{"svc-a", "svc-b", "svc-c", "rogue"} {
		resp, err := e.admin.AddService(ctx(t), &stepupv1.AddServiceRequest{Name: name})
		if err != nil {
			t.Fatalf("AddService(%s): %v", name, err)
		}
		e.secrets[name] = resp.GetSecret()
	}
	k, err := token.GenerateKey(token.AlgEdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := token.NewKeySet(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(set)
	_, err = e.admin.AddService(ctx(t), &stepupv1.AddServiceRequest{Name: "jobs", Jwks: string(jwks), WithoutSecret: true})
	if err != nil {
		t.Fatalf("AddService(jobs): %v", err)
	}
	e.jobsKey = k
	return e
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// verifier returns a ready local verifier for audience, on the shared fake clock.
func (e *s2s) verifier(audience string) *client.Verifier {
	t := e.t
	v, err := client.NewVerifier(context.Background(), client.Config{Conn: e.public, Issuer: "stepup",
		Audience: audience, Now: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Ready(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return v
}

// hop serves one chain hop on loopback TCP and returns its address.
func (e *s2s) hop(cfg chain.Config) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	g := chain.NewServer(cfg)
	go g.Serve(lis)
	e.t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// serviceToken returns a renewing service token for name, by secret.
func (e *s2s) serviceToken(name, audience string) *client.ServiceToken {
	st, err := client.NewServiceToken(client.ServiceConfig{Conn: e.public, Name: name,
		Secret: e.secrets[name], Audience: audience, Now: e.clock.Now, Insecure: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// exchanger returns an Exchanger acting as service name toward audience.
func (e *s2s) exchanger(name, audience string) *client.Exchanger {
	x, err := client.NewExchanger(client.ExchangeConfig{Conn: e.public,
		Credentials: e.serviceToken(name, ""), Audience: audience, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	return x
}

type interceptors interface {
	UnaryClientInterceptor() grpc.UnaryClientInterceptor
	StreamClientInterceptor() grpc.StreamClientInterceptor
}

func dialHop(t *testing.T, addr string, i interceptors) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(i.UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(i.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// exchangeChain runs A (accepts stepup's audience) -> B -> C, each exchanging the
// user's token for the next hop. Only svc-b may call C for a user; B's Job takes
// service tokens from "jobs" only.
func (e *s2s) exchangeChain() (a, b, c string) {
	c = e.hop(chain.Config{Name: "svc-c", Verifier: e.verifier("svc-c"), Policy: client.Policy{
		Callers: map[string]client.Callers{chain.MethodCall: {Services: []string{"svc-b"}}}}})
	b = e.hop(chain.Config{Name: "svc-b", Verifier: e.verifier("svc-b"),
		Policy: client.Policy{Callers: map[string]client.Callers{
			chain.MethodJob: {Accept: client.AcceptServices, Services: []string{"jobs"}}}},
		Next: dialHop(e.t, c, e.exchanger("svc-b", "svc-c"))})
	a = e.hop(chain.Config{Name: "svc-a", Verifier: e.verifier("stepup"),
		Next: dialHop(e.t, b, e.exchanger("svc-a", "svc-b"))})
	return a, b, c
}

func (e *s2s) callAs(addr, method, tok string) (*structpb.Struct, error) {
	return chain.Call(bearer(e.t, tok), dial(e.t, addr), method)
}

func actorOf(s *structpb.Struct) []string {
	var out []string
	for _, v := range s.GetFields()["actor"].GetListValue().GetValues() {
		out = append(out, v.GetStringValue())
	}
	return out
}

func next(s *structpb.Struct) *structpb.Struct { return s.GetFields()["next"].GetStructValue() }

func TestS2SPropagation(t *testing.T) {
	e := startS2S(t)
	uid := e.createUser("alice", alicePassword)
	tok := e.login("alice", alicePassword).GetAccessToken()
	fwd := client.NewPropagator("stepup")
	c := e.hop(chain.Config{Name: "svc-c", Verifier: e.verifier("stepup")})
	b := e.hop(chain.Config{Name: "svc-b", Verifier: e.verifier("stepup"), Next: dialHop(t, c, fwd)})
	a := e.hop(chain.Config{Name: "svc-a", Verifier: e.verifier("stepup"), Next: dialHop(t, b, fwd)})

	got, err := e.callAs(a, chain.MethodCall, tok)
	if err != nil {
		t.Fatal(err)
	}
	for hop, s := 0, got; s != nil; hop, s = hop+1, next(s) {
		f := s.GetFields()
		if f["subject"].GetStringValue() != uid || len(actorOf(s)) != 0 || f["caller"].GetStringValue() != "stepup" {
			t.Errorf("hop %d saw %v, want alice's own token", hop, s)
		}
		if hop == 2 && f["service"].GetStringValue() != "svc-c" {
			t.Errorf("last hop is %v", f["service"])
		}
	}

	// A target that accepts another audience never receives the token.
	other := e.hop(chain.Config{Name: "svc-b", Verifier: e.verifier("svc-b")})
	a2 := e.hop(chain.Config{Name: "svc-a", Verifier: e.verifier("stepup"),
		Next: dialHop(t, other, client.NewPropagator("svc-b"))})
	_, err = e.callAs(a2, chain.MethodCall, tok)
	wantCode(t, err, codes.FailedPrecondition)
}

func TestS2SExchange(t *testing.T) {
	e := startS2S(t)
	uid := e.createUser("alice", alicePassword)
	tok := e.login("alice", alicePassword).GetAccessToken()
	a, _, c := e.exchangeChain()

	got, err := e.callAs(a, chain.MethodCall, tok)
	if err != nil {
		t.Fatal(err)
	}
	bSaw, cSaw := next(got), next(next(got))
	if !slices.Equal(actorOf(bSaw), []string{"svc-a"}) {
		t.Errorf("B saw act %v, want [svc-a]", actorOf(bSaw))
	}
	// Outermost first: B acted last, on behalf of A's exchange.
	if !slices.Equal(actorOf(cSaw), []string{"svc-b", "svc-a"}) {
		t.Errorf("C saw act %v, want [svc-b svc-a]", actorOf(cSaw))
	}
	if cSaw.GetFields()["subject"].GetStringValue() != uid || cSaw.GetFields()["caller"].GetStringValue() != "svc-b" {
		t.Errorf("C saw %v", cSaw)
	}

	// A token exchanged for B is refused by C.
	forB := e.exchange(t, "svc-a", tok, "svc-b")
	_, err = e.callAs(c, chain.MethodCall, forB)
	wantCode(t, err, codes.Unauthenticated)
	claims := e.validateFor(forB, "svc-b").GetClaims()
	if claims.GetClientId() != "svc-a" || claims.GetSessionId() == "" || claims.GetAcr() != token.ACR1 {
		t.Errorf("exchanged claims = %v", claims)
	}
}

// exchange calls ExchangeToken as service actor.
func (e *s2s) exchange(t *testing.T, actor, subject, audience string) string {
	t.Helper()
	st, err := e.serviceToken(actor, "").Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.auth.ExchangeToken(bearer(t, st), &stepupv1.ExchangeTokenRequest{
		SubjectToken: subject, Audience: audience})
	if err != nil {
		t.Fatalf("ExchangeToken as %s: %v", actor, err)
	}
	return resp.GetAccessToken()
}

func (e *s2s) validateFor(tok, audience string) *stepupv1.ValidateTokenResponse {
	resp, err := e.auth.ValidateToken(ctx(e.t), &stepupv1.ValidateTokenRequest{Token: tok, Audience: audience})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func TestS2SServiceTokens(t *testing.T) {
	e := startS2S(t)
	_, b, _ := e.exchangeChain()

	// A background job with a key-signed assertion calls B's Job.
	jobs, err := client.NewServiceToken(client.ServiceConfig{Conn: e.public, Name: "jobs",
		Key: e.jobsKey, Issuer: "stepup", Audience: "svc-b", Now: e.clock.Now, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := chain.Call(ctx(t), dial(t, b), chain.MethodJob, grpc.PerRPCCredentials(jobs))
	if err != nil {
		t.Fatal(err)
	}
	if f := got.GetFields(); !f["service_token"].GetBoolValue() || f["caller"].GetStringValue() != "jobs" {
		t.Errorf("B saw %v", got)
	}

	// A known service that is not allowed: PERMISSION_DENIED on Job and on Call.
	rogue := e.serviceToken("rogue", "svc-b")
	for _, m := range []string{chain.MethodJob, chain.MethodCall} {
		_, err = chain.Call(ctx(t), dial(t, b), m, grpc.PerRPCCredentials(rogue))
		wantCode(t, err, codes.PermissionDenied)
	}

	// A renewed token: past the old one's renewal point a new one is fetched.
	first, _ := jobs.Token(ctx(t))
	e.clock.Advance(4*time.Minute + time.Second)
	if second, _ := jobs.Token(ctx(t)); second == first {
		t.Error("service token not renewed before expiry")
	}

	// A removed service's tokens stop validating.
	jobsTok, _ := jobs.Token(ctx(t))
	if _, err := e.admin.RemoveService(ctx(t), &stepupv1.RemoveServiceRequest{Name: "jobs"}); err != nil {
		t.Fatal(err)
	}
	if r := e.validateFor(jobsTok, "svc-b"); r.GetValid() {
		t.Error("token of a removed service still valid at stepup")
	}
	eventually(t, func() bool {
		_, err := chain.Call(bearer(t, jobsTok), dial(t, b), chain.MethodJob)
		return status.Code(err) == codes.Unauthenticated
	})
}

func TestS2SCredentials(t *testing.T) {
	e := startS2S(t)
	bad := []*stepupv1.IssueServiceTokenRequest{
		{Service: "svc-a", Credential: &stepupv1.IssueServiceTokenRequest_ClientSecret{ClientSecret: "sss_wrong"}},
		{Service: "nobody", Credential: &stepupv1.IssueServiceTokenRequest_ClientSecret{ClientSecret: e.secrets["svc-a"]}},
		{Service: "svc-b", Credential: &stepupv1.IssueServiceTokenRequest_ClientSecret{ClientSecret: e.secrets["svc-a"]}},
	}
	for i, req := range bad {
		_, err := e.auth.IssueServiceToken(ctx(t), req)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("bad credential %d: %v", i, err)
		}
	}
	// An assertion is accepted once.
	assertion, err := token.SignAssertion(e.jobsKey, "jobs", "stepup", "jti-1", e.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req := &stepupv1.IssueServiceTokenRequest{Credential: &stepupv1.IssueServiceTokenRequest_ClientAssertion{ClientAssertion: assertion}}
	resp, err := e.auth.IssueServiceToken(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.auth.IssueServiceToken(ctx(t), req)
	wantCode(t, err, codes.Unauthenticated)

	// A service token carries no user claims and cannot act as a user at stepup.
	v := e.validateFor(resp.GetAccessToken(), "")
	if !v.GetValid() || v.GetClaims().GetAcr() != "" || v.GetClaims().GetSessionId() != "" {
		t.Errorf("service token validation = %v", v)
	}
	_, err = e.auth.Logout(bearer(t, resp.GetAccessToken()), &stepupv1.LogoutRequest{})
	wantCode(t, err, codes.PermissionDenied)
	// And a user token cannot exchange.
	user := e.createUser("alice", alicePassword)
	_ = user
	tok := e.login("alice", alicePassword).GetAccessToken()
	_, err = e.auth.ExchangeToken(bearer(t, tok), &stepupv1.ExchangeTokenRequest{SubjectToken: tok, Audience: "svc-b"})
	wantCode(t, err, codes.PermissionDenied)
}

func TestS2SRevokedSessionFailsDownTheChain(t *testing.T) {
	e := startS2S(t)
	e.createUser("alice", alicePassword)
	tok := e.login("alice", alicePassword).GetAccessToken()
	a, b, c := e.exchangeChain()
	if _, err := e.callAs(a, chain.MethodCall, tok); err != nil {
		t.Fatal(err)
	}
	forB := e.exchange(t, "svc-a", tok, "svc-b")
	forC := e.exchange(t, "svc-b", forB, "svc-c")

	if _, err := e.auth.Logout(bearer(t, tok), &stepupv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct{ tok, aud string }{{tok, ""}, {forB, "svc-b"}, {forC, "svc-c"}} {
		if r := e.validateFor(x.tok, x.aud); r.GetReason() != stepupv1.ValidationReason_VALIDATION_REASON_REVOKED {
			t.Errorf("token for %q after logout: %v", x.aud, r.GetReason())
		}
	}
	st, _ := e.serviceToken("svc-a", "").Token(ctx(t))
	_, err := e.auth.ExchangeToken(bearer(t, st), &stepupv1.ExchangeTokenRequest{SubjectToken: tok, Audience: "svc-b"})
	wantCode(t, err, codes.InvalidArgument)
	eventually(t, func() bool {
		_, errA := e.callAs(a, chain.MethodCall, tok)
		_, errB := e.callAs(b, chain.MethodCall, forB)
		_, errC := e.callAs(c, chain.MethodCall, forC)
		return status.Code(errA) == codes.Unauthenticated && status.Code(errB) == codes.Unauthenticated &&
			status.Code(errC) == codes.Unauthenticated
	})
}

// eventually waits up to 5 seconds for cond, which the revocation stream makes true.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}
