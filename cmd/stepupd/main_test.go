package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{
		"STEPUP_LISTEN":     "127.0.0.1:9000",
		"STEPUP_DATA_DIR":   "/var/lib/stepup",
		"STEPUP_ACCESS_TTL": "10m",
	}
	getenv := func(k string) string { return env[k] }
	opts, _, err := parseFlags([]string{"--data-dir", "/srv/stepup"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Listen != "127.0.0.1:9000" || opts.DataDir != "/srv/stepup" || opts.Server.AccessTokenTTL != 10*time.Minute {
		t.Fatalf("flags over environment over defaults: %+v", opts)
	}

	// Every bad setting is reported at once.
	env["STEPUP_ACCESS_TTL"], env["STEPUP_SESSION_TTL"] = "soon", "later"
	_, _, err = parseFlags([]string{"extra"}, getenv, &bytes.Buffer{})
	for _, want := range []string{"STEPUP_ACCESS_TTL", "STEPUP_SESSION_TTL", "unexpected arguments"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestHelpExplainsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, _, err := parseFlags([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"--listen", "-data-dir", "STEPUP_LISTEN", "STEPUP_DATA_DIR", "master key"} {
		if !strings.Contains(out.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}
