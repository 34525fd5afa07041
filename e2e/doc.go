// Package e2e holds end-to-end tests: they start the real daemon on a loopback TCP port
// with a temporary data directory and drive it over gRPC, as a client would.
package e2e
