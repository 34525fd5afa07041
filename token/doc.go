// Package token holds the access-token rules that the stepup server and every
// service embedding the client interceptor apply, written once: how a token is
// signed, how it is verified, what a step-up requirement is and how it travels as a
// gRPC error.
//
// A token is a compact JWS with typ "at+jwt" (RFC 9068), signed with EdDSA or ES256
// by a key named in its kid header. Verifiers hold a KeySet, in which each kid is
// pinned to exactly one algorithm, and reject a token whose alg differs: the header
// is never trusted to choose the algorithm (RFC 8725 §3.1). Verify refuses anything
// that is not exactly the shape the Signer produces: headers other than alg, kid
// and typ; a missing or mistyped claim among iss, sub, aud, exp, iat, nbf, jti, sid,
// acr, amr, auth_time and client_id; times outside the configured leeway. It does not
// use go-jose's Claims.Validate, which silently skips absent exp, nbf and iat.
//
// Cost. Verify runs on every request of every service. Prefilter rejects junk
// before any decoding, and every error returned before the signature check is a
// preallocated value, so rejecting junk allocates nothing. The protected header is
// checked by a small allocation-free scanner that accepts only the flat,
// escape-free object the Signer writes; a fuzz test holds it to go-jose's JSON
// decoder. go-jose's jwt.ParseSigned still parses the token, keeping its vetted
// algorithm allowlist and format checks. The signature is checked here over the exact
// bytes received, not by go-jose's Verify, which would decode the header again and
// re-encode the payload. What remains beyond the signature check itself is
// ParseSigned and the reflection-based decoding of the claims, which rejects
// duplicate and mistyped claims; see BenchmarkVerifyEdDSA against BenchmarkEd25519Raw.
//
// This package must not import the server or store packages: the interceptor side
// links it into every service.
//
// What a verifier cannot know: a token stays valid until exp even if it is revoked
// or its user disabled, unless the verifier also consults a jti or sub denylist, so
// the access-token lifetime is the exposure window. And since ES256 signatures are
// malleable, nothing should key on the token string; jti identifies a token.
package token
