package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/stepup/stepup/server"
	"github.com/stepup/stepup/store"
)

// File names inside the data directory.
const (
	DBFile        = "stepup.db"
	MasterKeyFile = "master.key"
	AdminSocket   = "admin.sock"
)

// Options configures a daemon.
type Options struct {
	// Listen is the TCP address of the public listener, e.g. "127.0.0.1:7443".
	Listen string
	// HTTPListen, if set, is the TCP address of a plain HTTP listener serving the JWK Set
	// at /.well-known/jwks.json.
	HTTPListen string
	// DataDir holds the database, the admin socket and (by default) the master key.
	DataDir string
	// MasterKey, if set, is the encoded master key (from STEPUP_MASTER_KEY).
	MasterKey string
	// MasterKeyFile, if set, is where the master key is read from; when neither this nor
	// MasterKey is set, DataDir/master.key is used and created on first start.
	MasterKeyFile string
	// Server is the policy of the services.
	Server server.Config
	// Email and SMS choose how codes reach users; the zero values deliver nothing, and
	// the email and SMS factors answer FAILED_PRECONDITION. See delivery.go.
	Email EmailDelivery
	SMS   SMSDelivery
	// Templates, if set, is Go text/template source whose {{define}} blocks replace
	// default message templates (delivery.TemplateNames lists them).
	Templates string
	// PurgeInterval is how often expired records are deleted. Default 10 minutes.
	PurgeInterval time.Duration
	// Logger receives the daemon's logs. Default slog.Default().
	Logger *slog.Logger
}

// Daemon is a running stepup server.
type Daemon struct {
	log     *slog.Logger
	store   *store.Store
	srv     *server.Server
	public  *grpc.Server
	admin   *grpc.Server
	pubLis  net.Listener
	admLis  net.Listener
	http    *http.Server
	httpLis net.Listener
	stop    context.CancelFunc
	done    chan struct{}
	errc    chan error
	sockets string
}

// Start opens the data directory and starts serving. Close stops it.
func Start(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	key, err := masterKey(opts)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(opts.DataDir, DBFile), store.Options{MasterKey: key})
	if err != nil {
		return nil, err
	}
	d, err := start(opts, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

func checkOptions(opts Options) error {
	var errs []error
	if opts.Listen == "" {
		errs = append(errs, errors.New("listen address is empty"))
	}
	if opts.DataDir == "" {
		errs = append(errs, errors.New("data directory is empty"))
	}
	if opts.MasterKey != "" && opts.MasterKeyFile != "" {
		errs = append(errs, errors.New("set the master key by file or by environment, not both"))
	}
	return errors.Join(errs...)
}

// masterKey finds the master key: from the environment, from a named file, or from
// DataDir/master.key, created with mode 0600 on first start.
func masterKey(opts Options) ([]byte, error) {
	if opts.MasterKey != "" {
		return store.ParseMasterKey(opts.MasterKey)
	}
	path := opts.MasterKeyFile
	if path == "" {
		path = filepath.Join(opts.DataDir, MasterKeyFile)
	}
	key, created, err := store.LoadOrCreateMasterKey(path, nil)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if created {
		opts.Logger.Warn("created a new master key; back it up, without it the stored secrets are lost",
			"path", path)
	}
	return key, nil
}

func start(opts Options, st *store.Store) (*Daemon, error) {
	opts.Server.Logger = opts.Logger
	if err := setSenders(&opts); err != nil {
		return nil, err
	}
	srv, err := server.New(st, opts.Server)
	if err != nil {
		return nil, err
	}
	d := &Daemon{log: opts.Logger, store: st, srv: srv, done: make(chan struct{}), errc: make(chan error, 2)}
	if d.pubLis, err = net.Listen("tcp", opts.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	d.sockets = filepath.Join(opts.DataDir, AdminSocket)
	if d.admLis, err = listenUnix(d.sockets); err != nil {
		d.pubLis.Close()
		return nil, err
	}
	if err := d.listenHTTP(opts.HTTPListen); err != nil {
		d.pubLis.Close()
		d.admLis.Close()
		return nil, err
	}
	d.public, d.admin = srv.NewPublicServer(), srv.NewAdminServer()
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go d.serve(d.public, d.pubLis)
	go d.serve(d.admin, d.admLis)
	if d.http != nil {
		go d.serveHTTP()
	}
	go d.background(ctx, opts.PurgeInterval)
	d.log.Info("stepupd serving", "listen", d.pubLis.Addr().String(), "admin_socket", d.sockets,
		"http_listen", d.HTTPAddr())
	return d, nil
}

// listenUnix listens on a Unix socket that only the owner can connect to. A socket left
// by a crashed server is removed; a live one means another server is running.
func listenUnix(path string) (net.Listener, error) {
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("admin socket %s is in use: is another stepupd running?", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale admin socket: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lis.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return lis, nil
}

func (d *Daemon) serve(g *grpc.Server, lis net.Listener) {
	if err := g.Serve(lis); err != nil {
		d.errc <- err
	}
}

// listenHTTP opens the optional JWKS listener.
func (d *Daemon) listenHTTP(addr string) error {
	if addr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", addr, err)
	}
	d.httpLis = lis
	d.http = &http.Server{
		Handler:           d.srv.JWKSHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	return nil
}

func (d *Daemon) serveHTTP() {
	if err := d.http.Serve(d.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.errc <- err
	}
}

// HTTPAddr is the JWKS HTTP listener's address, or "" when there is none.
func (d *Daemon) HTTPAddr() string {
	if d.httpLis == nil {
		return ""
	}
	return d.httpLis.Addr().String()
}

// background runs the periodic jobs: key schedule and purge.
func (d *Daemon) background(ctx context.Context, purgeEvery time.Duration) {
	defer close(d.done)
	keysDone := make(chan struct{})
	go func() {
		defer close(keysDone)
		d.srv.RunKeyMaintenance(ctx)
	}()
	d.purgeLoop(ctx, purgeEvery)
	<-keysDone
}

func (d *Daemon) purgeLoop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := d.srv.Purge(ctx); err != nil {
				d.log.Warn("purge failed", "err", err)
			} else if n > 0 {
				d.log.Debug("purged expired records", "count", n)
			}
		}
	}
}

// Addr is the public listener's address.
func (d *Daemon) Addr() string { return d.pubLis.Addr().String() }

// AdminSocket is the path of the admin Unix socket.
func (d *Daemon) AdminSocket() string { return d.sockets }

// Server is the services, for tests that need the key set or the clock.
func (d *Daemon) Server() *server.Server { return d.srv }

// Err reports a listener that stopped serving on its own.
func (d *Daemon) Err() <-chan error { return d.errc }

// Close stops accepting calls, waits up to grace for calls in flight, and closes the
// database.
func (d *Daemon) Close(grace time.Duration) error {
	d.stop()
	<-d.done
	stopped := make(chan struct{})
	go func() {
		d.public.GracefulStop()
		d.admin.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(grace):
		d.public.Stop()
		d.admin.Stop()
		<-stopped
	}
	if d.http != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		d.http.Shutdown(shutdown)
	}
	os.Remove(d.sockets)
	return d.store.Close()
}
