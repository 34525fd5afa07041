package token

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestSatisfies(t *testing.T) {
	const maxAge = 10 * time.Minute
	auth := t0.Add(-time.Hour)
	claims := func(acr string) *Claims { return &Claims{ACR: acr, AuthTime: auth} }
	cases := []struct {
		name string
		c    *Claims
		r    Requirement
		now  time.Time
		want error
	}{
		{"no requirement", claims(ACR1), Requirement{}, t0, nil},
		{"aal2 needs aal2", claims(ACR2), Requirement{ACR: ACR2}, t0, nil},
		{"aal2 meets aal1", claims(ACR2), Requirement{ACR: ACR1}, t0, nil},
		{"aal1 fails aal2", claims(ACR1), Requirement{ACR: ACR2}, t0, ErrInsufficientACR},
		{"unknown acr fails aal1", claims("gold"), Requirement{ACR: ACR1}, t0, ErrInsufficientACR},
		{"empty acr fails aal1", claims(""), Requirement{ACR: ACR1}, t0, ErrInsufficientACR},
		{"acr differs in case", claims("AAL2"), Requirement{ACR: ACR2}, t0, ErrInsufficientACR},
		{"unknown requirement fails aal2", claims(ACR2), Requirement{ACR: "aal3"}, t0, ErrInsufficientACR},
		{"unknown requirement met by itself", claims("aal3"), Requirement{ACR: "aal3"}, t0, nil},
		{"age = max_age-1s", claims(ACR2), Requirement{MaxAge: maxAge}, auth.Add(maxAge - time.Second), nil},
		{"age = max_age", claims(ACR2), Requirement{MaxAge: maxAge}, auth.Add(maxAge), nil},
		{"age = max_age+1s", claims(ACR2), Requirement{MaxAge: maxAge}, auth.Add(maxAge + time.Second),
			ErrAuthTooOld},
		{"no auth_time", &Claims{ACR: ACR2}, Requirement{MaxAge: maxAge}, t0, ErrAuthTooOld},
		{"negative max_age", claims(ACR2), Requirement{MaxAge: -time.Second}, auth, ErrAuthTooOld},
		{"acr checked before age", claims(ACR1), Requirement{ACR: ACR2, MaxAge: time.Second}, t0,
			ErrInsufficientACR},
		{"both met", claims(ACR2), Requirement{ACR: ACR2, MaxAge: maxAge}, auth.Add(time.Minute), nil},
		{"nil claims", nil, Requirement{ACR: ACR1}, t0, ErrInsufficientACR},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Satisfies(tc.r, tc.now); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Satisfies = %v, want %v", err, tc.want)
			}
		})
	}
}

// overTheWire serialises err's status as grpc-go does for the grpc-status-details-bin
// trailer and decodes it again.
func overTheWire(t *testing.T, err error) error {
	t.Helper()
	st, _ := status.FromError(err)
	b, mErr := proto.Marshal(st.Proto())
	if mErr != nil {
		t.Fatal(mErr)
	}
	var p spb.Status
	if uErr := proto.Unmarshal(b, &p); uErr != nil {
		t.Fatal(uErr)
	}
	return status.FromProto(&p).Err()
}

func TestStepUpErrorRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   Requirement
		out  Requirement
		md   map[string]string
	}{
		{"acr and max_age", Requirement{ACR: ACR2, MaxAge: 5 * time.Minute},
			Requirement{ACR: ACR2, MaxAge: 5 * time.Minute},
			map[string]string{"acr_values": ACR2, "max_age": "300"}},
		{"acr only", Requirement{ACR: ACR2}, Requirement{ACR: ACR2},
			map[string]string{"acr_values": ACR2}},
		{"max_age only", Requirement{MaxAge: time.Minute}, Requirement{MaxAge: time.Minute},
			map[string]string{"max_age": "60"}},
		{"max_age rounded up", Requirement{MaxAge: 1500 * time.Millisecond},
			Requirement{MaxAge: 2 * time.Second}, map[string]string{"max_age": "2"}},
		{"sub-second max_age is not zero", Requirement{MaxAge: time.Millisecond},
			Requirement{MaxAge: time.Second},
			map[string]string{"max_age": "1"}},
		{"nothing", Requirement{}, Requirement{}, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := overTheWire(t, StepUpError(tc.in))
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.Unauthenticated || st.Message() != "step-up authentication required" {
				t.Fatalf("status = %v", st)
			}
			info := st.Details()[0].(*errdetails.ErrorInfo)
			if info.Reason != "INSUFFICIENT_USER_AUTHENTICATION" || info.Domain != "stepup" ||
				fmt.Sprint(info.Metadata) != fmt.Sprint(tc.md) {
				t.Errorf("ErrorInfo = %v, want metadata %v", info, tc.md)
			}
			got, ok := ParseStepUpError(fmt.Errorf("calling billing: %w", err))
			if !ok || got != tc.out {
				t.Errorf("ParseStepUpError = %v, %v; want %v", got, ok, tc.out)
			}
		})
	}
}

func TestParseStepUpErrorRejects(t *testing.T) {
	withInfo := func(code codes.Code, info *errdetails.ErrorInfo) error {
		st, err := status.New(code, "x").WithDetails(info)
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	info := func(reason, domain string, md map[string]string) *errdetails.ErrorInfo {
		return &errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: md}
	}
	const reason = "INSUFFICIENT_USER_AUTHENTICATION"
	stepUp := func(maxAge string) error {
		return withInfo(codes.Unauthenticated, info(reason, "stepup", map[string]string{"max_age": maxAge}))
	}
	cases := map[string]error{
		"nil":               nil,
		"plain error":       errors.New("step-up authentication required"),
		"bare status":       status.Error(codes.Unauthenticated, "step-up authentication required"),
		"wrong code":        withInfo(codes.PermissionDenied, info(reason, "stepup", nil)),
		"wrong reason":      withInfo(codes.Unauthenticated, info("OTHER", "stepup", nil)),
		"wrong domain":      withInfo(codes.Unauthenticated, info(reason, "evil", nil)),
		"max_age negative":  stepUp("-1"),
		"max_age text":      stepUp("ten"),
		"max_age exponent":  stepUp("1e3"),
		"max_age too large": stepUp("9223372036854775807"),
		"max_age empty":     stepUp(""),
	}
	for name, err := range cases {
		if r, ok := ParseStepUpError(err); ok {
			t.Errorf("%s: ParseStepUpError = %v, true", name, r)
		}
	}
}
