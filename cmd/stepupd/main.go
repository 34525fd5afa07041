// Command stepupd is the stepup server.
//
// It serves AuthService and AccountService on a TCP address and AdminService on a Unix
// socket in the data directory. Run it with no flags to start on 127.0.0.1:7443 with
// ./stepup-data as the data directory; stepupd --help lists every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stepup/stepup/server/daemon"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "stepupd:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	opts, level, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d, err := daemon.Start(opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		opts.Logger.Info("shutting down")
	case err = <-d.Err():
		opts.Logger.Error("listener failed", "err", err)
	}
	if cerr := d.Close(10 * time.Second); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// parseFlags reads flags, with STEPUP_* environment variables as defaults, and reports
// every bad setting at once.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (daemon.Options, slog.Level, error) {
	var opts daemon.Options
	var level slog.Level
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("stepupd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { usage(fs, out) }
	fs.StringVar(&opts.Listen, "listen", env("STEPUP_LISTEN", "127.0.0.1:7443"),
		"TCP address of the public gRPC listener (AuthService, AccountService) [$STEPUP_LISTEN]")
	fs.StringVar(&opts.HTTPListen, "http-listen", env("STEPUP_HTTP_LISTEN", ""),
		"TCP address of an optional plain HTTP listener serving the JWK Set at\n"+
			"/.well-known/jwks.json, for JWT libraries and proxies; off when empty [$STEPUP_HTTP_LISTEN]")
	fs.StringVar(&opts.DataDir, "data-dir", env("STEPUP_DATA_DIR", "stepup-data"),
		"directory for the database, the admin socket and the master key; created if missing [$STEPUP_DATA_DIR]")
	fs.StringVar(&opts.MasterKeyFile, "master-key-file", env("STEPUP_MASTER_KEY_FILE", ""),
		"file holding the 32-byte master key (base64 or hex) that encrypts stored secrets;\n"+
			"default <data-dir>/master.key, created on first start. $STEPUP_MASTER_KEY may hold the key itself [$STEPUP_MASTER_KEY_FILE]")
	fs.StringVar(&opts.Server.Issuer, "issuer", env("STEPUP_ISSUER", "stepup"),
		"iss claim of issued tokens, also the issuer shown in authenticator apps [$STEPUP_ISSUER]")
	fs.StringVar(&opts.Server.Audience, "audience", env("STEPUP_AUDIENCE", "stepup"),
		"aud claim of issued tokens [$STEPUP_AUDIENCE]")
	fs.StringVar(&opts.Server.SigningAlg, "signing-alg", env("STEPUP_SIGNING_ALG", "EdDSA"),
		"algorithm of new signing keys: EdDSA (Ed25519) or ES256 [$STEPUP_SIGNING_ALG]")
	durations := []struct {
		field *time.Duration
		name  string
		def   string
		help  string
	}{
		{&opts.Server.AccessTokenTTL, "access-ttl", "15m", "lifetime of an aal1 (password) access token"},
		{&opts.Server.StepUpTokenTTL, "step-up-ttl", "5m", "lifetime of an aal2 (stepped-up) token; shorter than --access-ttl"},
		{&opts.Server.SessionTTL, "session-ttl", "12h", "absolute lifetime of a login session and its refresh tokens"},
		{&opts.Server.StepUpMaxAge, "step-up-max-age", "5m", "how recent a step-up must be for factor and password changes"},
		{&opts.Server.ChallengeTTL, "challenge-ttl", "5m", "lifetime of a second-factor challenge"},
		{&opts.Server.KeyRotationPeriod, "key-rotation", "720h", "how long a signing key signs before the next takes over; negative turns scheduled rotation off"},
		{&opts.Server.JWKSCacheTTL, "jwks-cache-ttl", "5m", "max-age of the served JWK Set; a new key is published this long before it signs"},
		{&opts.Server.CodeTTL, "code-ttl", "5m", "lifetime of a code sent by SMS or email; at most 10m"},
		{&opts.Server.DeliveryTimeout, "delivery-timeout", "10s", "bound on one send to an email or SMS provider"},
	}
	var errs []error
	for _, d := range durations {
		envName := "STEPUP_" + strings.ToUpper(strings.ReplaceAll(d.name, "-", "_"))
		def, err := time.ParseDuration(env(envName, d.def))
		if err != nil {
			errs = append(errs, fmt.Errorf("$%s: not a duration", envName))
		}
		fs.DurationVar(d.field, d.name, def, d.help+" [$"+envName+"]")
	}
	emailIsAAL2, err := strconv.ParseBool(env("STEPUP_EMAIL_IS_AAL2", "false"))
	if err != nil {
		errs = append(errs, errors.New("$STEPUP_EMAIL_IS_AAL2: not true or false"))
	}
	fs.BoolVar(&opts.Server.EmailIsAAL2, "email-is-aal2", emailIsAAL2,
		`let a step-up by email code (acr "email-otp") count as aal2; NIST SP 800-63B does not [$STEPUP_EMAIL_IS_AAL2]`)
	sending := addDeliveryFlags(fs, env, &opts)
	fs.TextVar(&level, "log-level", levelFrom(env("STEPUP_LOG_LEVEL", "info")),
		"log level: debug, info, warn or error [$STEPUP_LOG_LEVEL]")
	if err := fs.Parse(args); err != nil {
		return opts, level, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	opts.MasterKey = getenv("STEPUP_MASTER_KEY")
	errs = append(errs, sending.apply(&opts, getenv)...)
	return opts, level, errors.Join(errs...)
}

func levelFrom(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func usage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprint(out, `stepupd issues and verifies JWT access tokens with step-up two-factor authentication.

Usage: stepupd [flags]

With no flags it serves gRPC on 127.0.0.1:7443 and keeps its state in ./stepup-data,
creating the directory, the database and a master key on first start. The admin API
(used by stepupctl) listens on <data-dir>/admin.sock, readable by this user only.

Flags (each also read from the environment variable in brackets):
`)
	fs.PrintDefaults()
}
