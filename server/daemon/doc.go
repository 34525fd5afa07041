// Package daemon runs a complete stepup server: it opens the data directory, builds the
// services and serves them on the public TCP listener and the admin Unix socket.
// cmd/stepupd is a thin flag parser around it, and end-to-end tests start the same code.
package daemon
