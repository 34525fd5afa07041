package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DevFile is the name of the file Dev appends messages to, in its directory.
const DevFile = "dev-messages.log"

// DevConfig configures the development transport.
type DevConfig struct {
	// Dir is where DevFile is written, normally the data directory. Required.
	Dir string
	// Logger receives every message, code included. Default slog.Default().
	Logger *slog.Logger
}

// Dev is the development transport: it sends nothing, and writes each message, code
// included, to the log and to DevFile, so codes can be read while trying stepup out.
// It must never run where real users sign in; NewDev warns loudly that it is on.
type Dev struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
}

// NewDev returns the transport and logs a warning that codes will be written out.
func NewDev(cfg DevConfig) (*Dev, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: development delivery needs a directory", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Dev{path: filepath.Join(cfg.Dir, DevFile), log: cfg.Logger}
	d.log.Warn("DEVELOPMENT DELIVERY IS ON: one-time codes are not sent but written to this log "+
		"and to a file; never use it where real users sign in", "file", d.path)
	return d, nil
}

// Path is the file messages are appended to.
func (d *Dev) Path() string { return d.path }

// Deliver logs the message and appends it to the file (mode 0600).
func (d *Dev) Deliver(ctx context.Context, m Message) error {
	d.log.WarnContext(ctx, "development delivery: message not sent", "channel", string(m.Channel),
		"kind", string(m.Kind), "to", m.To, "code", m.Code)
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := os.OpenFile(d.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%w: dev: %w", ErrUnavailable, err)
	}
	_, werr := fmt.Fprintf(f, "--- %s %s %s to %s code %s\nSubject: %s\n%s\n\n",
		time.Now().UTC().Format(time.RFC3339), m.Channel, m.Kind, m.To, m.Code, m.Subject, m.Body)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("%w: dev: %w", ErrUnavailable, werr)
	}
	return nil
}
