package token

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// servicePayload is a well-formed service token for service "jobs".
func servicePayload() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "jobs", "client_id": "jobs", "jti": "jti-s",
		"aud": testAudience,
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(),
	}
}

func withService(edit func(p map[string]any)) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		p := servicePayload()
		edit(p)
		return forge(t, f.ed, header(AlgEdDSA, f.ed.ID, Type), mustJSON(t, p))
	}
}

// nestAct builds an act claim naming chain, outermost first.
func nestAct(chain ...string) any {
	var act map[string]any
	for i := len(chain) - 1; i >= 0; i-- {
		a := map[string]any{"sub": chain[i]}
		if act != nil {
			a["act"] = act
		}
		act = a
	}
	return act
}

// serviceCases are the hostile-token rows for service tokens and the act claim: a
// token is a user token exactly when it has a sid, and each kind is held to its
// own claim set.
func serviceCases() []verifyCase {
	none := func(p map[string]any) {}
	deep := make([]string, MaxActorDepth+1)
	for i := range deep {
		deep[i] = "svc"
	}
	deep[0] = "cli"
	eight := slices.Clone(deep[:MaxActorDepth])
	user := func(edit func(p map[string]any)) func(*testing.T, *fixture) string {
		return withPayload(func(p map[string]any) { p["client_id"] = "svc-b"; edit(p) })
	}
	return []verifyCase{
		{"service token", withService(none), time.Time{}, nil},
		{"service token with acr", withService(func(p map[string]any) { p["acr"] = ACR2 }), time.Time{}, ErrMalformed},
		{"service token with empty acr", withService(func(p map[string]any) { p["acr"] = "" }), time.Time{}, ErrMalformed},
		{"service token with amr", withService(func(p map[string]any) { p["amr"] = []string{"pwd"} }), time.Time{}, ErrMalformed},
		{"service token with empty amr", withService(func(p map[string]any) { p["amr"] = []string{} }), time.Time{}, ErrMalformed},
		{"service token with auth_time", withService(func(p map[string]any) { p["auth_time"] = t0.Unix() }), time.Time{}, ErrMalformed},
		{"service token with act", withService(func(p map[string]any) { p["act"] = nestAct("jobs") }), time.Time{}, ErrMalformed},
		{"service token sub is not client_id", withService(func(p map[string]any) { p["sub"] = "other" }), time.Time{}, ErrMalformed},
		{"service token sub is a user id", withService(func(p map[string]any) {
			p["sub"], p["client_id"] = "u_abc", "u_abc"
		}), time.Time{}, ErrMalformed},
		{"service token sub upper case", withService(func(p map[string]any) {
			p["sub"], p["client_id"] = "Jobs", "Jobs"
		}), time.Time{}, ErrMalformed},
		{"service token with null sid", withService(func(p map[string]any) { p["sid"] = nil }), time.Time{}, nil},
		{"service token with empty sid", withService(func(p map[string]any) { p["sid"] = "" }), time.Time{}, ErrMalformed},
		{"user token without sid", withPayload(func(p map[string]any) { delete(p, "sid") }), time.Time{}, ErrMalformed},
		{"user token with act", user(func(p map[string]any) { p["act"] = nestAct("svc-b", "svc-a") }), time.Time{}, nil},
		{"act outermost is not client_id", user(func(p map[string]any) { p["act"] = nestAct("svc-a", "svc-b") }), time.Time{}, ErrMalformed},
		{"act without sub", user(func(p map[string]any) { p["act"] = map[string]any{"iss": "x"} }), time.Time{}, ErrMalformed},
		{"act sub empty", user(func(p map[string]any) { p["act"] = map[string]any{"sub": ""} }), time.Time{}, ErrMalformed},
		{"act sub number", user(func(p map[string]any) { p["act"] = map[string]any{"sub": 5} }), time.Time{}, ErrMalformed},
		{"act string", user(func(p map[string]any) { p["act"] = "svc-b" }), time.Time{}, ErrMalformed},
		{"act array", user(func(p map[string]any) { p["act"] = []any{nestAct("svc-b")} }), time.Time{}, ErrMalformed},
		{"act inner sub not a service name", user(func(p map[string]any) {
			p["act"] = nestAct("svc-b", "u_123")
		}), time.Time{}, ErrMalformed},
		{"act at max depth", withPayload(func(p map[string]any) { p["act"] = nestAct(eight...) }), time.Time{}, nil},
		{"act deeper than max", withPayload(func(p map[string]any) { p["act"] = nestAct(deep...) }), time.Time{}, ErrMalformed},
		{"act 1000 deep", withRawPayload(`{"act":` + strings.Repeat(`{"sub":"cli","act":`, 1000) +
			`{"sub":"cli"}` + strings.Repeat(`}`, 1000) + `,` + basePayloadText()[1:]), time.Time{}, ErrMalformed},
	}
}

func TestVerifyServiceTokensAndAct(t *testing.T) {
	for _, tc := range serviceCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			raw := tc.tok(t, f)
			c, err := f.v.Verify(raw)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (c != nil) {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
			if err != nil {
				assertNoEcho(t, err, raw)
			}
		})
	}
}

func TestServiceTokenRoundTrip(t *testing.T) {
	f := newFixture(t)
	in := &Claims{Issuer: testIssuer, Subject: "jobs", ClientID: "jobs", ID: "j",
		Audience: []string{testAudience}, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Minute)}
	c, err := f.v.Verify(mustSign(t, f.ed, in))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsService() || c.ACR != "" || c.AMR != nil || !c.AuthTime.IsZero() || c.Actor != nil {
		t.Fatalf("claims = %+v, want a bare service token", c)
	}
	for _, r := range []Requirement{{ACR: ACR1}, {ACR: ACR2}, {ACR: "custom"}, {MaxAge: time.Hour}} {
		if err := c.Satisfies(r, t0); err == nil {
			t.Errorf("service token satisfies %+v", r)
		}
	}
	if err := c.Satisfies(Requirement{}, t0); err != nil {
		t.Errorf("service token fails the empty requirement: %v", err)
	}
}

func TestSignRejectsMixedKinds(t *testing.T) {
	f := newFixture(t)
	s, err := NewSigner(f.ed)
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(*Claims){
		"service with acr":       func(c *Claims) { c.SessionID = "" },
		"service with amr":       func(c *Claims) { c.SessionID, c.ACR, c.AuthTime = "", "", time.Time{} },
		"service sub != client":  func(c *Claims) { c.SessionID, c.ACR, c.AMR, c.AuthTime = "", "", nil, time.Time{} },
		"act not client_id":      func(c *Claims) { c.Actor = []string{"svc-a"} },
		"act too deep":           func(c *Claims) { c.ClientID = "a"; c.Actor = slices.Repeat([]string{"a"}, MaxActorDepth+1) },
		"act with a bad service": func(c *Claims) { c.ClientID = "a"; c.Actor = []string{"a", "B"} },
	}
	for name, edit := range edits {
		c := baseClaims()
		edit(c)
		if _, err := s.Sign(c); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("%s: Sign = %v, want ErrInvalidClaims", name, err)
		}
	}
	c := baseClaims()
	c.ClientID, c.Actor = "svc-b", []string{"svc-b", "svc-a"}
	got, err := f.v.Verify(mustSign(t, f.ed, c))
	if err != nil || !slices.Equal(got.Actor, c.Actor) || got.IsService() {
		t.Fatalf("exchanged token round trip = %+v, %v", got, err)
	}
}

func TestValidServiceName(t *testing.T) {
	good := []string{"a", "billing", "svc-2", "a" + strings.Repeat("b", 62)}
	bad := []string{"", "A", "1a", "-a", "u_123", "a_b", "a.b", "a b", "a" + strings.Repeat("b", 63), "é"}
	for _, n := range good {
		if !ValidServiceName(n) {
			t.Errorf("ValidServiceName(%q) = false", n)
		}
	}
	for _, n := range bad {
		if ValidServiceName(n) {
			t.Errorf("ValidServiceName(%q) = true", n)
		}
	}
}

func TestAssertion(t *testing.T) {
	k := mustGenerate(t, AlgEdDSA)
	set, err := NewKeySet(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg := AssertionConfig{Audience: testIssuer, Now: t0, Keys: func(string) (*KeySet, error) { return set, nil }}
	raw, err := SignAssertion(k, "jobs", testIssuer, "j1", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAssertion(raw, cfg)
	if err != nil || a.Service != "jobs" || a.ID != "j1" {
		t.Fatalf("VerifyAssertion = %+v, %v", a, err)
	}
	other := cfg
	other.Audience = "https://elsewhere.test"
	if _, err := VerifyAssertion(raw, other); !errors.Is(err, ErrWrongAudience) {
		t.Errorf("wrong audience: %v", err)
	}
	late := cfg
	late.Now = t0.Add(2 * time.Minute)
	if _, err := VerifyAssertion(raw, late); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	stranger := mustGenerate(t, AlgEdDSA)
	forged, _ := SignAssertion(stranger, "jobs", testIssuer, "j2", t0, time.Minute)
	if _, err := VerifyAssertion(forged, cfg); err == nil {
		t.Error("assertion signed with an unregistered key accepted")
	}
	long := forge(t, k, `{"alg":"EdDSA","kid":"`+k.ID+`","typ":"JWT"}`, mustJSON(t, map[string]any{
		"iss": "jobs", "sub": "jobs", "aud": testIssuer, "jti": "j3", "exp": t0.Add(time.Hour).Unix()}))
	if _, err := VerifyAssertion(long, cfg); !errors.Is(err, ErrMalformed) {
		t.Errorf("hour-long assertion: %v", err)
	}
	// An access token is no assertion: wrong iss/sub shape and signed by stepup's key.
	if _, err := VerifyAssertion(mustSign(t, k, baseClaims()), cfg); err == nil {
		t.Error("access token accepted as an assertion")
	}
}
