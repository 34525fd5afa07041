package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/stepup/stepup/token"
)

// Rule is what a method demands of the caller's authentication: at least ACR (such as
// token.ACR2) and, if MaxAge is set, an auth_time no older than MaxAge. The zero Rule
// demands only a valid token. It is token.Requirement, so the interceptor and stepup
// apply exactly the same rule and send the same step-up error.
type Rule = token.Requirement

// Policy maps gRPC methods to what they demand. Method names are full names as
// grpc.Method reports them, "/package.Service/Method". A method that is neither Public
// nor in Methods gets Default, whose zero value demands a valid token: the policy
// denies by default, so a method added later is never open by accident.
type Policy struct {
	// Public methods need no token at all: typically health checks and reflection.
	Public []string
	// Methods holds the rules of methods that demand more (or other) than Default.
	Methods map[string]Rule
	// Default applies to every other method.
	Default Rule

	// Callers says, per method, which kinds of token and which services a method
	// accepts; a method not in it gets DefaultCallers. The zero Callers accepts user
	// tokens from any caller, which is what every method accepted before service
	// tokens existed: a service token is refused unless a method opts in.
	Callers map[string]Callers
	// DefaultCallers applies to every non-public method not in Callers.
	DefaultCallers Callers
}

// Validate reports every problem with p: a name that is not a full method name, a
// method that is both public and ruled, or a negative MaxAge. A typo in a method name
// cannot be detected here and leaves that method under Default.
func (p Policy) Validate() error {
	var bad []string
	for _, m := range p.Public {
		if !fullMethodName(m) {
			bad = append(bad, fmt.Sprintf("public method %q is not /service/method", m))
		}
		if _, ok := p.Methods[m]; ok {
			bad = append(bad, fmt.Sprintf("method %q is both public and ruled", m))
		}
	}
	for m, r := range p.Methods {
		if !fullMethodName(m) {
			bad = append(bad, fmt.Sprintf("method %q is not /service/method", m))
		}
		if r.MaxAge < 0 {
			bad = append(bad, fmt.Sprintf("method %q has a negative MaxAge", m))
		}
	}
	if p.Default.MaxAge < 0 {
		bad = append(bad, "Default has a negative MaxAge")
	}
	bad = append(bad, p.callerProblems()...)
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
}

// fullMethodName reports whether m has the form "/service/method".
func fullMethodName(m string) bool {
	rest, ok := strings.CutPrefix(m, "/")
	svc, method, found := strings.Cut(rest, "/")
	return ok && found && svc != "" && method != "" && !strings.Contains(method, "/")
}

// compiledPolicy is a Policy copied into lookup form, so later changes to the
// caller's maps and slices do not affect a running interceptor.
type compiledPolicy struct {
	public  map[string]bool
	methods map[string]Rule
	def     Rule
	callers map[string]callerSet
	defCall callerSet
}

func (p Policy) compile() (*compiledPolicy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cp := &compiledPolicy{public: map[string]bool{}, methods: map[string]Rule{}, def: p.Default}
	for _, m := range p.Public {
		cp.public[m] = true
	}
	for m, r := range p.Methods {
		cp.methods[m] = r
	}
	cp.callers, cp.defCall = map[string]callerSet{}, p.DefaultCallers.compile()
	for m, c := range p.Callers {
		cp.callers[m] = c.compile()
	}
	return cp, nil
}

// rule returns the rule of method, or public=true if it needs no token.
func (cp *compiledPolicy) rule(method string) (r Rule, public bool) {
	if cp.public[method] {
		return Rule{}, true
	}
	if r, ok := cp.methods[method]; ok {
		return r, false
	}
	return cp.def, false
}

// UnaryServerInterceptor returns an interceptor, built on go-grpc-middleware's auth
// interceptor, that enforces p: see AuthFunc for the answers it gives. An invalid
// Policy is logged, and every call is then refused with Internal rather than served
// under a policy nobody meant.
func (v *Verifier) UnaryServerInterceptor(p Policy) grpc.UnaryServerInterceptor {
	inner := auth.UnaryServerInterceptor(v.AuthFunc(p))
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo,
		h grpc.UnaryHandler) (any, error) {
		if err := v.refuseOverride(ctx, info.Server, info.FullMethod); err != nil {
			return nil, err
		}
		return inner(ctx, req, info, h)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming methods. The token
// is checked once, when the stream opens; a stream already open is not cut off when
// its token expires or is revoked.
func (v *Verifier) StreamServerInterceptor(p Policy) grpc.StreamServerInterceptor {
	inner := auth.StreamServerInterceptor(v.AuthFunc(p))
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo,
		h grpc.StreamHandler) error {
		if err := v.refuseOverride(ss.Context(), srv, info.FullMethod); err != nil {
			return err
		}
		return inner(srv, ss, info, v.guardStream(h))
	}
}

// refuseOverride fails a call to a service that implements go-grpc-middleware's
// ServiceAuthFuncOverride: the middleware would call that method instead of the
// policy, silently skipping every check.
func (v *Verifier) refuseOverride(ctx context.Context, srv any, method string) error {
	if _, ok := srv.(auth.ServiceAuthFuncOverride); !ok {
		return nil
	}
	v.log.ErrorContext(ctx, "service implements AuthFuncOverride, which would bypass the policy",
		logMethod, method)
	return errPolicy
}

// AuthFunc returns the go-grpc-middleware auth function that enforces p, for callers
// that chain interceptors themselves. Unlike the interceptors it cannot see the
// service, so it does not refuse services that implement AuthFuncOverride. For a
// method that is not public it reads the one "authorization: Bearer" value, checks the
// token, and answers:
//
//   - no token, two authorization values, another scheme, a bad, expired or revoked
//     token: Unauthenticated, with one fixed message;
//   - a good token that does not meet the method's Rule: token.StepUpError(rule), the
//     RFC 9470-style challenge Session.CallWithStepUp acts on;
//   - the verifier cannot decide (no key set yet, revocation list stale and FailOpen
//     off, stepup unreachable in Remote mode, closed): Unavailable;
//   - otherwise the call proceeds with the claims in its context (ClaimsFromContext).
func (v *Verifier) AuthFunc(p Policy) auth.AuthFunc {
	cp, err := p.compile()
	if err != nil {
		v.log.Error("invalid policy: refusing every call", logErr, err)
		return func(context.Context) (context.Context, error) { return nil, errPolicy }
	}
	return func(ctx context.Context) (context.Context, error) {
		method, _ := grpc.Method(ctx)
		rule, public := cp.rule(method)
		if public {
			return ctx, nil
		}
		raw, claims, err := v.checkCall(ctx, rule)
		if err == nil {
			err = v.checkCaller(cp.callersOf(method), claims)
		}
		if err != nil {
			v.logRejection(ctx, method, claims, err)
			return nil, statusFor(err, rule)
		}
		ctx = context.WithValue(ctx, rawTokenKey{}, raw)
		return context.WithValue(ctx, claimsKey{}, claims), nil
	}
}

// checkCall authenticates the bearer token of an incoming call against rule. It reads
// only the authorization values: metadata.FromIncomingContext would copy every header.
func (v *Verifier) checkCall(ctx context.Context, rule Rule) (string, *token.Claims, error) {
	vals := metadata.ValueFromIncomingContext(ctx, authorization)
	raw, err := token.BearerFromMD(metadata.MD{authorization: vals})
	if err != nil {
		return "", nil, err
	}
	claims, err := v.authenticate(ctx, raw, rule)
	return raw, claims, err
}

// logRejection logs why a call was refused: at Warn for a bad credential, at Debug for
// a step-up or a verifier that cannot decide (both expected; the background loops log
// the latter once at Warn). Errors never contain token bytes, and claims are logged
// only once they verified.
func (v *Verifier) logRejection(ctx context.Context, method string, c *token.Claims, err error) {
	attrs := []any{logMethod, method, logReason, err.Error()}
	if c != nil {
		attrs = append(attrs, logUserID, c.Subject, logTokenID, c.ID)
	}
	if statusFor(err, Rule{}) == errUnauthenticated {
		v.log.WarnContext(ctx, "rejected access token", attrs...)
		return
	}
	v.log.DebugContext(ctx, "call refused", attrs...)
}

type claimsKey struct{}

const authorization = "authorization"

// ClaimsFromContext returns the verified claims of the caller, which the interceptor
// put in the context of every non-public call. It returns a copy the handler may
// change. ok is false for public methods and outside the interceptor.
func ClaimsFromContext(ctx context.Context) (*token.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*token.Claims)
	if !ok || c == nil {
		return nil, false
	}
	cp := *c
	cp.Audience = slices.Clone(c.Audience)
	cp.AMR = slices.Clone(c.AMR)
	cp.Actor = slices.Clone(c.Actor)
	return &cp, true
}
