// Command stepupctl administers a running stepupd through its admin socket.
//
//	stepupctl user add NAME          create a user; the password is read from stdin or a prompt
//	stepupctl user show NAME         print a user
//	stepupctl user disable NAME      disable a user; their tokens stop validating
//	stepupctl user enable NAME       enable a user and clear second-factor lockouts
//	stepupctl user revoke-tokens NAME  make every token issued so far stop validating
//	stepupctl token revoke JTI       make one access token stop validating
//	stepupctl keys list              list signing keys and their states
//	stepupctl keys rotate            start a signing key rotation
//	stepupctl service add NAME       register a service; prints its secret once
//	stepupctl service list|remove|rotate-secret
//	stepupctl totp code              print the current TOTP code for a base32 secret read
//	                                 from stdin, as an authenticator app would (for testing)
//
// NAME is a username; pass --id to give a user id instead.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// env is what a command sees of the world, so tests can run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// isTerminal reports whether stdin is a terminal, to decide whether to prompt.
	isTerminal func() bool
	readSecret func() (string, error)
}

func main() {
	e := env{
		stdin:      os.Stdin,
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		getenv:     os.Getenv,
		isTerminal: func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		readSecret: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(os.Stderr)
			return string(b), err
		},
	}
	if err := run(os.Args[1:], e); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stepupctl:", err)
		}
		os.Exit(1)
	}
}

const usageText = `stepupctl administers stepupd through its admin socket.

Usage:
  stepupctl [--data-dir DIR | --socket PATH] user add NAME
  stepupctl [--data-dir DIR | --socket PATH] user show|disable|enable|revoke-tokens [--id] NAME
  stepupctl [--data-dir DIR | --socket PATH] token revoke JTI
  stepupctl [--data-dir DIR | --socket PATH] keys list|rotate
  stepupctl [--data-dir DIR | --socket PATH] service add NAME [--jwks FILE] [--no-secret]
  stepupctl [--data-dir DIR | --socket PATH] service list|remove|rotate-secret [NAME]
  stepupctl totp code < secret.txt

user add reads the password from stdin when stdin is not a terminal, and prompts
twice otherwise. With --id, NAME is a user id instead of a username.
totp code reads a base32 TOTP secret from stdin and prints the code an authenticator
app would show now; it talks to no server.

Flags:
`

func run(args []string, e env) error {
	fs := flag.NewFlagSet("stepupctl", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dataDir := fs.String("data-dir", envOr(e.getenv, "STEPUP_DATA_DIR", "stepup-data"),
		"stepupd's data directory; the admin socket is <data-dir>/admin.sock [$STEPUP_DATA_DIR]")
	socket := fs.String("socket", e.getenv("STEPUP_ADMIN_SOCKET"),
		"path of the admin socket; overrides --data-dir [$STEPUP_ADMIN_SOCKET]")
	fs.Usage = func() { fmt.Fprint(e.stderr, usageText); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *socket == "" {
		*socket = filepath.Join(*dataDir, "admin.sock")
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fs.Usage()
		return errors.New("expected a command: user, token, keys, service or totp")
	}
	if rest[0] == "totp" {
		return totpCommand(rest[1], e)
	}
	// "unix:" takes a relative or an absolute path ("unix://" would read a relative
	// path's first element as an authority).
	conn, err := grpc.NewClient("unix:"+*socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := stepupv1.NewAdminServiceClient(conn)
	switch rest[0] {
	case "user":
		return userCommand(ctx, admin, rest[1], rest[2:], e)
	case "token":
		return tokenCommand(ctx, admin, rest[1], rest[2:], e)
	case "keys":
		return plain(keysCommand(ctx, admin, rest[1], e))
	case "service":
		return serviceCommand(ctx, admin, rest[1], rest[2:], e)
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", rest[0])
	}
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func userCommand(ctx context.Context, c stepupv1.AdminServiceClient, verb string, args []string, e env) error {
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	byID := fs.Bool("id", false, "NAME is a user id, not a username")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("user %s: expected exactly one NAME", verb)
	}
	name := fs.Arg(0)
	ref := &stepupv1.UserRef{Ref: &stepupv1.UserRef_Username{Username: name}}
	if *byID {
		ref = &stepupv1.UserRef{Ref: &stepupv1.UserRef_UserId{UserId: name}}
	}
	var err error
	switch verb {
	case "add":
		err = addUser(ctx, c, name, e)
	case "show":
		err = showUser(ctx, c, ref, e)
	case "disable":
		_, err = c.DisableUser(ctx, &stepupv1.DisableUserRequest{User: ref})
		report(err, e, "disabled "+name)
	case "enable":
		_, err = c.EnableUser(ctx, &stepupv1.EnableUserRequest{User: ref})
		report(err, e, "enabled "+name)
	case "revoke-tokens":
		_, err = c.RevokeUserTokens(ctx, &stepupv1.RevokeUserTokensRequest{User: ref})
		report(err, e, "revoked every token issued so far to "+name)
	default:
		return fmt.Errorf("unknown command: user %s", verb)
	}
	return plain(err)
}

func report(err error, e env, msg string) {
	if err == nil {
		fmt.Fprintln(e.stdout, msg)
	}
}

// plain turns a gRPC status into "Code: message" for people.
func plain(err error) error {
	if st, ok := status.FromError(err); ok && err != nil {
		return fmt.Errorf("%s: %s", st.Code(), st.Message())
	}
	return err
}

func addUser(ctx context.Context, c stepupv1.AdminServiceClient, name string, e env) error {
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	resp, err := c.CreateUser(ctx, &stepupv1.CreateUserRequest{Username: name, Password: pw})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, resp.GetUserId())
	return nil
}

// readPassword prompts twice on a terminal, or reads the first line of stdin.
func readPassword(e env) (string, error) {
	if !e.isTerminal() {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(e.stderr, "Password: ")
	first, err := e.readSecret()
	if err != nil {
		return "", err
	}
	fmt.Fprint(e.stderr, "Repeat password: ")
	second, err := e.readSecret()
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("passwords do not match")
	}
	return first, nil
}

func showUser(ctx context.Context, c stepupv1.AdminServiceClient, ref *stepupv1.UserRef, e env) error {
	resp, err := c.GetUser(ctx, &stepupv1.GetUserRequest{User: ref})
	if err != nil {
		return err
	}
	out, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(resp.GetUser())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, string(out))
	return nil
}
