// Package fakestepup is an in-memory stand-in for the stepup server, for the tests
// and examples of package client: an AuthService and AccountService whose key set,
// revocation stream and ValidateToken answers a test controls, a fake clock, a gRPC
// endpoint on bufconn that can be stopped and started again, and a small demo service
// to put behind the interceptor.
//
// It signs real tokens with package token, so what the client verifies is what stepup
// would issue; everything else (users, sessions, challenges) is a minimal model. It
// is not a conformance suite for the real server.
package fakestepup
