// Package server implements stepup's gRPC services: AuthService and AccountService on the
// public listener, AdminService on a Unix socket.
//
// Handlers hold the policy (who may do what, how many attempts, how long a token lives);
// the store only persists. Every check that consumes a one-time value happens inside a
// single store.Update, so concurrent submissions of one code cannot both succeed.
package server
