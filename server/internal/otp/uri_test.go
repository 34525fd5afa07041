package otp

import (
	"bytes"
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func TestEncodeSecret(t *testing.T) {
	got := EncodeSecret(seed20)
	if got != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("EncodeSecret = %s", got)
	}
	if strings.Contains(EncodeSecret([]byte{1, 2, 3}), "=") {
		t.Error("EncodeSecret pads")
	}
}

func TestURI(t *testing.T) {
	tests := []struct {
		name, issuer, account, wantPath string
	}{
		{"plain", "Stepup", "alice", "/Stepup:alice"},
		{"email and spaces", "Acme Corp", "alice@example.com", "/Acme Corp:alice@example.com"},
		{"colon and ampersand", "A:B&C", "x:y?z#", "/A:B&C:x:y?z#"},
		{"no issuer", "", "alice", "/alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := URI(tt.issuer, tt.account, seed20)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("url.Parse: %v", err)
			}
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != tt.wantPath {
				t.Errorf("scheme, host, path = %s, %s, %q", u.Scheme, u.Host, u.Path)
			}
			checkLabel(t, u, tt.issuer, tt.account)
			checkQuery(t, u.Query(), tt.issuer)
			if strings.Contains(u.RawQuery, "+") {
				t.Errorf("query %q encodes space as '+'", u.RawQuery)
			}
		})
	}
}

// checkLabel splits the escaped label at its one unescaped colon.
func checkLabel(t *testing.T, u *url.URL, issuer, account string) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), ":")
	want := []string{account}
	if issuer != "" {
		want = []string{issuer, account}
	}
	if len(parts) != len(want) {
		t.Fatalf("label %q has %d parts, want %d", u.EscapedPath(), len(parts), len(want))
	}
	for i, p := range parts {
		if got, err := url.PathUnescape(p); err != nil || got != want[i] {
			t.Errorf("label part %d = %q (%v), want %q", i, got, err, want[i])
		}
	}
}

func checkQuery(t *testing.T, q url.Values, issuer string) {
	t.Helper()
	want := map[string]string{
		"secret": EncodeSecret(seed20), "algorithm": "SHA1", "digits": "6", "period": "30",
	}
	if issuer != "" {
		want["issuer"] = issuer
	}
	if len(q) != len(want) {
		t.Errorf("query has %d params, want %d: %v", len(q), len(want), q)
	}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Errorf("param %s = %q, want %q", k, got, v)
		}
	}
}

// TestURIPquerna checks that a widely used otpauth parser reads back our URI.
func TestURIPquerna(t *testing.T) {
	key, err := potp.NewKeyFromURL(URI("Acme Corp", "alice@example.com", seed20))
	if err != nil {
		t.Fatal(err)
	}
	if key.Issuer() != "Acme Corp" || key.AccountName() != "alice@example.com" {
		t.Errorf("issuer, account = %q, %q", key.Issuer(), key.AccountName())
	}
	if key.Secret() != EncodeSecret(seed20) || key.Period() != 30 ||
		key.Digits() != potp.DigitsSix || key.Algorithm() != potp.AlgorithmSHA1 {
		t.Errorf("key = %s", key.URL())
	}
}

// TestPquernaCrossCheck compares our codes with github.com/pquerna/otp's.
func TestPquernaCrossCheck(t *testing.T) {
	secret, err := NewSecret(bytes.NewReader(bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, 10)))
	if err != nil {
		t.Fatal(err)
	}
	for _, unix := range []int64{0, 59, 1111111109, 1234567890, 2000000000, 1700000015} {
		now := time.Unix(unix, 0)
		want, err := totp.GenerateCode(EncodeSecret(secret), now)
		if err != nil {
			t.Fatal(err)
		}
		if got := HOTP(secret, Step(now), Digits, nil); got != want {
			t.Errorf("at %d: ours %s, pquerna %s", unix, got, want)
		}
		if _, ok := Verify(secret, want, now, -1, 0); !ok {
			t.Errorf("at %d: Verify rejected pquerna's code", unix)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	got, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(EncodeSecret(seed20))
	if err != nil || !bytes.Equal(got, seed20) {
		t.Errorf("round trip = %q, %v", got, err)
	}
}

func TestQRPNG(t *testing.T) {
	png, err := QRPNG(URI("Stepup", "alice", seed20))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("QRPNG output starts with %x", png[:8])
	}
}

func TestQRPNGTooLong(t *testing.T) {
	if _, err := QRPNG(strings.Repeat("x", 5000)); err == nil {
		t.Error("QRPNG accepted content beyond QR capacity")
	}
}
