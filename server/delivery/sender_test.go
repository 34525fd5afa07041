package delivery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
)

// recorder is a Transport that keeps what it is given.
type recorder struct{ got []delivery.Message }

func (r *recorder) Deliver(_ context.Context, m delivery.Message) error {
	r.got = append(r.got, m)
	return nil
}

func TestSenderMessages(t *testing.T) {
	rec := &recorder{}
	s, err := delivery.New(delivery.Config{Channel: delivery.Email, Transport: rec, Issuer: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SendVerificationCode(ctx, "alice@example.com", "123456", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.SendStepUpCode(ctx, "alice@example.com", "654321", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.SendAddressChanged(ctx, "old@example.com", "n***@example.com"); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind delivery.Kind
		to   string
		code string
	}{
		{delivery.KindVerification, "alice@example.com", "123456"},
		{delivery.KindStepUp, "alice@example.com", "654321"},
		{delivery.KindAddressChanged, "old@example.com", ""},
	}
	if len(rec.got) != len(want) {
		t.Fatalf("%d messages", len(rec.got))
	}
	for i, w := range want {
		m := rec.got[i]
		if m.Kind != w.kind || m.To != w.to || m.Code != w.code || m.Channel != delivery.Email ||
			m.Subject == "" || m.Body == "" {
			t.Errorf("message %d: %+v", i, m)
		}
	}
}

func TestNewSenderConfig(t *testing.T) {
	if _, err := delivery.New(delivery.Config{Channel: "fax", Transport: &recorder{}}); !errors.Is(err, delivery.ErrConfig) {
		t.Errorf("unknown channel: %v", err)
	}
	if _, err := delivery.New(delivery.Config{Channel: delivery.SMS}); !errors.Is(err, delivery.ErrConfig) {
		t.Errorf("no transport: %v", err)
	}
}
