// Package client is what other services import to use stepup: a gRPC client for
// stepup's AuthService and AccountService, and a Verifier whose server interceptors
// check stepup access tokens locally and enforce a per-method Policy.
//
// # Calling stepup
//
// Dial connects (TLS expected; Plaintext is the explicit opt-in for loopback and
// tests). Bearer turns a token into per-RPC credentials. A Session holds one user's
// tokens, is itself per-RPC credentials, and follows Login, Refresh and StepUp.
// Session.CallWithStepUp runs a call and, when it fails with stepup's step-up error
// (UNAUTHENTICATED with ErrorInfo INSUFFICIENT_USER_AUTHENTICATION, RFC 9470 in gRPC
// form), proves a second factor and runs the call once more.
//
// # Checking tokens in a service
//
// NewVerifier in Local mode follows two streams from stepup: WatchJwks, so keys are
// known before stepup signs with them, and WatchRevocations, so ended sessions,
// revoked tokens and disabled users are refused before their tokens expire. Token
// rules (algorithm pinning, required claims, typ, leeway, the step-up error) are
// package token's, the same code stepup runs; this package adds key distribution,
// revocation, caching and the gRPC policy.
//
// Security choices a user of this package should know:
//
//   - Default deny: a method not named in the Policy needs a valid token.
//   - Fail closed: if the revocation stream has been down longer than
//     Config.RevocationStaleAfter, or never delivered a snapshot, verified tokens
//     are refused with UNAVAILABLE unless Config.FailOpen is set. With FailOpen the
//     exposure window of a revoked token is the outage plus the token's lifetime.
//   - A key set stepup sends that token.ParseJWKS rejects is dropped and the last
//     good set kept; an unknown kid makes at most one GetJwks per
//     Config.JWKSRefetchCooldown, however many such tokens arrive.
//   - Verified tokens are cached by SHA-256 of the token; a hit still checks expiry,
//     that the signing key is still published, revocation, and the method's rule.
//   - Nothing here logs or returns a token or a code; logs carry user_id, jti and kid.
//   - A service that implements go-grpc-middleware's AuthFuncOverride would bypass
//     the policy, so its calls are refused with INTERNAL.
//
// Remote mode instead calls stepup's ValidateToken on every request: revocation is
// immediate, at the cost of a round trip and of stepup's availability.
//
// This package must not import stepup's server or store packages, so a service that
// embeds the interceptor does not link bbolt or the server.
package client
