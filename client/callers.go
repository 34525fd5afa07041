package client

import (
	"fmt"
	"slices"

	"github.com/stepup/stepup/token"
)

// Accept says which kinds of token a method takes.
type Accept int

const (
	// AcceptUsers takes user tokens only (the zero value): a call on behalf of a user,
	// directly, propagated, or exchanged.
	AcceptUsers Accept = iota
	// AcceptServices takes service tokens only: a service calling as itself.
	AcceptServices
	// AcceptAny takes both.
	AcceptAny
)

// Callers is who may call a method.
type Callers struct {
	// Accept is the kind of token the method takes. Default AcceptUsers.
	Accept Accept
	// Services, if not empty, lists the only callers allowed. The caller of a service
	// token is its sub; of an exchanged user token, the service that exchanged it last
	// (the outermost act, also its client_id); of any other user token, its client_id.
	// A token forwarded unchanged does not name the service that forwarded it, so a
	// method restricted to services refuses propagated tokens: use exchange for it.
	Services []string
}

// callerSet is Callers in lookup form.
type callerSet struct {
	accept   Accept
	services map[string]bool // nil: any caller
}

func (c Callers) compile() callerSet {
	cs := callerSet{accept: c.Accept}
	if len(c.Services) > 0 {
		cs.services = map[string]bool{}
		for _, s := range c.Services {
			cs.services[s] = true
		}
	}
	return cs
}

// callerProblems reports bad Callers entries, for Validate.
func (p Policy) callerProblems() []string {
	var bad []string
	check := func(where string, c Callers) {
		if c.Accept < AcceptUsers || c.Accept > AcceptAny {
			bad = append(bad, where+" has an unknown Accept")
		}
		for _, s := range c.Services {
			if !token.ValidServiceName(s) {
				bad = append(bad, fmt.Sprintf("%s names %q, which is not a service name", where, s))
			}
		}
	}
	for m, c := range p.Callers {
		if !fullMethodName(m) {
			bad = append(bad, fmt.Sprintf("callers of %q: not /service/method", m))
		}
		if slices.Contains(p.Public, m) {
			bad = append(bad, fmt.Sprintf("method %q is both public and has Callers", m))
		}
		check(fmt.Sprintf("callers of %q", m), c)
	}
	check("DefaultCallers", p.DefaultCallers)
	return bad
}

func (cp *compiledPolicy) callersOf(method string) callerSet {
	if c, ok := cp.callers[method]; ok {
		return c
	}
	return cp.defCall
}

// CallerOf names who is calling with c: the sub of a service token, the outermost act
// of an exchanged token, or else the client_id.
func CallerOf(c *token.Claims) string {
	switch {
	case c.IsService():
		return c.Subject
	case len(c.Actor) > 0:
		return c.Actor[0]
	}
	return c.ClientID
}

// checkCaller applies a method's Callers to verified claims, and the revocation list to
// the services named in them: a removed service is listed there like a revoked user,
// and a token it exchanged must stop working with it.
func (v *Verifier) checkCaller(cs callerSet, c *token.Claims) error {
	kindOK := cs.accept == AcceptAny || (cs.accept == AcceptServices) == c.IsService()
	if !kindOK {
		return ErrCallerNotAllowed
	}
	if cs.services != nil && !cs.services[CallerOf(c)] {
		return ErrCallerNotAllowed
	}
	if v.cfg.Mode == Local && v.rev.actorRevoked(c) {
		return ErrRevoked
	}
	return nil
}

// actorRevoked reports whether a service in c's act chain was removed after c was
// issued. A service token's own sub is checked by revokes, like a user's.
func (r *revocations) actorRevoked(c *token.Claims) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, name := range c.Actor {
		if u, ok := r.users[name]; ok && (u.disabled || c.IssuedAt.Before(u.notBefore)) {
			return true
		}
	}
	return false
}
