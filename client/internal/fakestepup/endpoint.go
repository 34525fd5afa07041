package fakestepup

import (
	"context"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

const bufSize = 1 << 20

// errDown is what dialing a stopped Endpoint returns; gRPC reports it as Unavailable.
var errDown = errors.New("fakestepup: endpoint is down")

// Endpoint is a gRPC server on an in-memory listener. Stop takes it down, breaking
// every connection and stream; Start brings up a fresh server at the same address, so
// clients reconnect as they would to a restarted process.
type Endpoint struct {
	newServer func() *grpc.Server

	mu  sync.Mutex
	lis *bufconn.Listener
	srv *grpc.Server
}

// Serve starts an Endpoint whose servers newServer builds (with services registered).
func Serve(newServer func() *grpc.Server) *Endpoint {
	e := &Endpoint{newServer: newServer}
	e.Start()
	return e
}

// Start brings the endpoint up if it is down.
func (e *Endpoint) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return
	}
	e.lis = bufconn.Listen(bufSize)
	e.srv = e.newServer()
	srv, lis := e.srv, e.lis
	go func() { _ = srv.Serve(lis) }()
}

// Stop takes the endpoint down at once.
func (e *Endpoint) Stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv, e.lis = nil, nil
	e.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Target is the dial target to use with Dialer or DialOptions.
func (e *Endpoint) Target() string { return "passthrough:///fakestepup" }

// Dialer returns the dial option that connects to the endpoint in memory.
func (e *Endpoint) Dialer() grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		e.mu.Lock()
		lis := e.lis
		e.mu.Unlock()
		if lis == nil {
			return nil, errDown
		}
		return lis.DialContext(ctx)
	})
}

// Dial returns a plaintext connection to the endpoint.
func (e *Endpoint) Dial() (*grpc.ClientConn, error) {
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	return grpc.NewClient(e.Target(), e.Dialer(), plain)
}
