// Command settingsd runs the example settings service, verifying stepup tokens locally.
//
//	go run ./examples/settings/cmd/settingsd --stepup 127.0.0.1:7443 --listen 127.0.0.1:7500
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stepup/stepup/client"
	"github.com/stepup/stepup/examples/settings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "settingsd:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:7500", "address to serve the settings service on")
	stepup := flag.String("stepup", "127.0.0.1:7443", "address of stepupd")
	issuer := flag.String("issuer", "stepup", "expected iss of tokens")
	audience := flag.String("audience", "stepup", "expected aud of tokens")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	conn, err := client.Dial(*stepup, client.Plaintext()) // loopback demo: no TLS
	if err != nil {
		return err
	}
	defer conn.Close()
	v, err := client.NewVerifier(ctx, client.Config{Conn: conn.Conn(), Issuer: *issuer, Audience: *audience})
	if err != nil {
		return err
	}
	defer v.Close()
	ready, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.Ready(ready); err != nil {
		return fmt.Errorf("stepup keys: %w", err)
	}

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	g := settings.NewServer(v)
	go func() { <-ctx.Done(); g.GracefulStop() }()
	slog.Info("settingsd serving", "listen", lis.Addr().String(), "stepup", *stepup)
	return g.Serve(lis)
}
