package server

import (
	"strings"
	"testing"
	"time"
)

// badSettings are the settings validate must reject, each with a word its message must
// contain so an operator can find the field.
var badSettings = []struct {
	name   string
	mutate func(*Config)
	want   string
}{
	{"signing alg", func(c *Config) { c.SigningAlg = "RS256" }, `"RS256"`},
	{"step-up TTL not shorter", func(c *Config) { c.StepUpTokenTTL = c.AccessTokenTTL }, "step-up token TTL"},
	{"access TTL over session", func(c *Config) { c.AccessTokenTTL = 13 * time.Hour }, "exceeds the session TTL"},
	{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, "leeway -1s"},
	{"leeway over 2m", func(c *Config) { c.Leeway = 2*time.Minute + time.Second }, "leeway 2m1s"},
	{"challenge attempts negative", func(c *Config) { c.ChallengeMaxAttempts = -1 }, "challenge max attempts -1"},
	{"challenge attempts 11", func(c *Config) { c.ChallengeMaxAttempts = 11 }, "challenge max attempts 11"},
	{"limit over 100", func(c *Config) { c.SecondFactor.Limit = 101 }, "second-factor limit 101"},
	{"limit not above free", func(c *Config) { c.SecondFactor.Limit = c.SecondFactor.Free }, "second-factor limit 5"},
	{"negative base", func(c *Config) { c.SecondFactor.Base = -time.Second }, "second-factor back-off"},
	{"max below base", func(c *Config) { c.SecondFactor.Max = time.Second }, "second-factor back-off"},
}

// defaulted returns the default Config with mutate applied, as New would validate it.
func defaulted(mutate func(*Config)) Config {
	var c Config
	c.setDefaults()
	mutate(&c)
	return c
}

func TestConfigValidateDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestConfigValidateEachSetting(t *testing.T) {
	for _, tc := range badSettings {
		t.Run(tc.name, func(t *testing.T) {
			c := defaulted(tc.mutate)
			err := c.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestConfigValidateReportsAll: an operator with several mistakes sees all of them in
// one error instead of fixing them one restart at a time.
func TestConfigValidateReportsAll(t *testing.T) {
	c := defaulted(func(c *Config) {
		c.SigningAlg = "RS256"
		c.StepUpTokenTTL = 20 * time.Minute
		c.SessionTTL = 10 * time.Minute
		c.Leeway = time.Hour
		c.ChallengeMaxAttempts = 50
		c.SecondFactor.Limit = 500
		c.SecondFactor.Max = time.Second
	})
	err := c.validate()
	if err == nil {
		t.Fatal("validate() = nil")
	}
	for _, want := range []string{`"RS256"`, "step-up token TTL", "exceeds the session TTL", "leeway 1h",
		"challenge max attempts 50", "second-factor limit 500", "second-factor back-off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}

	// New applies the same validation and reports the same list.
	st := newHarness(t).store
	_, newErr := New(st, c)
	if newErr == nil || newErr.Error() != err.Error() {
		t.Fatalf("New() = %v, want %v", newErr, err)
	}
}

func TestLockFor(t *testing.T) {
	l := LockoutConfig{Free: 3, Base: time.Minute, Max: 10 * time.Minute, Limit: 30}
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{2, 0},                 // below Free
		{3, time.Minute},       // at Free: Base
		{4, 2 * time.Minute},   // doubling
		{5, 4 * time.Minute},   // doubling
		{6, 8 * time.Minute},   // doubling
		{7, 10 * time.Minute},  // 16m capped at Max
		{29, 10 * time.Minute}, // stays capped
		{1 << 30, 10 * time.Minute},
	}
	for _, tc := range tests {
		if got := l.lockFor(tc.failures); got != tc.want {
			t.Errorf("lockFor(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}
