package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stepup/stepup/server/daemon"
)

// TestCommands drives stepupctl against a real daemon on its real admin socket.
func TestCommands(t *testing.T) {
	dataDir := t.TempDir()
	d, err := daemon.Start(daemon.Options{Listen: "127.0.0.1:0", DataDir: dataDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(time.Second)

	ctl := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		e := env{
			stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
			getenv:     func(name string) string { return map[string]string{"STEPUP_DATA_DIR": dataDir}[name] },
			isTerminal: func() bool { return false },
		}
		err := run(args, e)
		return out.String(), err
	}

	id, err := ctl("correct horse battery staple\n", "user", "add", "alice")
	if err != nil || !strings.HasPrefix(id, "u_") {
		t.Fatalf("user add: %q %v", id, err)
	}
	if _, err := ctl("short\n", "user", "add", "bob"); err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("weak password: %v", err)
	}
	if _, err := ctl("correct horse battery staple\n", "user", "add", "ALICE"); err == nil ||
		!strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatalf("duplicate: %v", err)
	}
	for _, verb := range []string{"disable", "enable", "revoke-tokens"} {
		if out, err := ctl("", "user", verb, "alice"); err != nil || out == "" {
			t.Fatalf("user %s: %q %v", verb, out, err)
		}
	}
	out, err := ctl("", "user", "show", "--id", strings.TrimSpace(id))
	var shown map[string]any
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown["username"] != "alice" ||
		strings.Contains(out, "password") {
		t.Fatalf("user show: %s %v", out, err)
	}
	if _, err := ctl("", "user", "show", "nobody"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("unknown user: %v", err)
	}
	if out, err := ctl("", "keys", "list"); err != nil || !strings.Contains(out, "current") || !strings.Contains(out, "next") {
		t.Fatalf("keys list: %s %v", out, err)
	}
	if out, err := ctl("", "keys", "rotate"); err != nil || !strings.Contains(out, "signs from") {
		t.Fatalf("keys rotate: %s %v", out, err)
	}
	if out, err := ctl("", "token", "revoke", "some-jti"); err != nil || !strings.Contains(out, "some-jti") {
		t.Fatalf("token revoke: %s %v", out, err)
	}
	if _, err := ctl("", "frobnicate", "x"); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestTOTPCode: the code printed for the RFC 6238 test secret at a known time would be
// the RFC's, but the command uses the wall clock, so this checks only the shape and
// that a bad secret is refused without echoing it.
func TestTOTPCode(t *testing.T) {
	var out bytes.Buffer
	e := env{stdin: strings.NewReader("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"), stdout: &out, stderr: io.Discard,
		getenv: func(string) string { return "" }}
	if err := run([]string{"totp", "code"}, e); err != nil || len(strings.TrimSpace(out.String())) != 6 {
		t.Fatalf("totp code: %q %v", out.String(), err)
	}
	e.stdin = strings.NewReader("not base32 at all!\n")
	err := run([]string{"totp", "code"}, e)
	if err == nil || strings.Contains(err.Error(), "base32 at all") {
		t.Fatalf("bad secret: %v", err)
	}
}
