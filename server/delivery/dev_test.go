package delivery_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
)

func TestDev(t *testing.T) {
	var logs bytes.Buffer
	dir := t.TempDir()
	dev, err := delivery.NewDev(delivery.DevConfig{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "DEVELOPMENT DELIVERY IS ON") {
		t.Fatalf("no warning at start:\n%s", logs.String())
	}
	s, _ := delivery.New(delivery.Config{Channel: delivery.SMS, Transport: dev})
	if err := s.SendStepUpCode(context.Background(), "+14155552671", "493817", time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "code=493817") {
		t.Fatalf("code not logged:\n%s", logs.String())
	}
	b, err := os.ReadFile(dev.Path())
	if err != nil || !strings.Contains(string(b), "code 493817") || !strings.Contains(string(b), "+14155552671") {
		t.Fatalf("file: %q %v", b, err)
	}
	if st, _ := os.Stat(dev.Path()); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode())
	}
}
