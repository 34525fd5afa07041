package client

import (
	"errors"
	"testing"

	"github.com/stepup/stepup/token"
)

func TestCallerOf(t *testing.T) {
	cases := []struct {
		c    token.Claims
		want string
	}{
		{token.Claims{Subject: "jobs", ClientID: "jobs"}, "jobs"},
		{token.Claims{Subject: "u_1", SessionID: "s", ClientID: "svc-b", Actor: []string{"svc-b", "svc-a"}}, "svc-b"},
		{token.Claims{Subject: "u_1", SessionID: "s", ClientID: "stepup"}, "stepup"},
	}
	for _, tc := range cases {
		if got := CallerOf(&tc.c); got != tc.want {
			t.Errorf("CallerOf(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestPolicyValidateCallers(t *testing.T) {
	bad := []Policy{
		{Callers: map[string]Callers{"nope": {}}},
		{Callers: map[string]Callers{"/a.B/C": {Services: []string{"Bad_Name"}}}},
		{Callers: map[string]Callers{"/a.B/C": {Accept: Accept(7)}}},
		{Public: []string{"/a.B/C"}, Callers: map[string]Callers{"/a.B/C": {}}},
		{DefaultCallers: Callers{Services: []string{"u_1"}}},
	}
	for i, p := range bad {
		if err := p.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("policy %d: Validate = %v, want ErrInvalidConfig", i, err)
		}
	}
	good := Policy{Callers: map[string]Callers{"/a.B/C": {Accept: AcceptAny, Services: []string{"svc-a"}}}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestCheckCaller(t *testing.T) {
	v := &Verifier{cfg: Config{Mode: Remote}, rev: newRevocations()}
	user := &token.Claims{Subject: "u_1", SessionID: "s", ClientID: "svc-b", Actor: []string{"svc-b"}}
	svc := &token.Claims{Subject: "jobs", ClientID: "jobs"}
	cases := []struct {
		name string
		cs   Callers
		c    *token.Claims
		ok   bool
	}{
		{"zero takes users", Callers{}, user, true},
		{"zero refuses services", Callers{}, svc, false},
		{"services only refuses users", Callers{Accept: AcceptServices}, user, false},
		{"services only", Callers{Accept: AcceptServices}, svc, true},
		{"any", Callers{Accept: AcceptAny}, svc, true},
		{"listed actor", Callers{Services: []string{"svc-b"}}, user, true},
		{"unlisted actor", Callers{Services: []string{"svc-a"}}, user, false},
		{"unlisted service", Callers{Accept: AcceptAny, Services: []string{"svc-a"}}, svc, false},
	}
	for _, tc := range cases {
		err := v.checkCaller(tc.cs.compile(), tc.c)
		if (err == nil) != tc.ok || (err != nil && statusFor(err, Rule{}) != errCallerDenied) {
			t.Errorf("%s: checkCaller = %v", tc.name, err)
		}
	}
}
