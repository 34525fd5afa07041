package token

import (
	"crypto"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestNewSigner(t *testing.T) {
	ed, ec := mustGenerate(t, AlgEdDSA), mustGenerate(t, AlgES256)
	cases := []struct {
		name string
		key  *PrivateKey
		ok   bool
	}{
		{"EdDSA", ed, true},
		{"ES256", ec, true},
		{"nil", nil, false},
		{"nil signer", &PrivateKey{ID: "k", Alg: AlgEdDSA}, false},
		{"empty kid", &PrivateKey{Alg: AlgEdDSA, Signer: ed.Signer}, false},
		{"alg mismatch", &PrivateKey{ID: "k", Alg: AlgES256, Signer: ed.Signer}, false},
		{"alg none", &PrivateKey{ID: "k", Alg: "none", Signer: ed.Signer}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.key)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
				t.Fatalf("NewSigner = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && s.KeyID() != tc.key.ID {
				t.Errorf("KeyID = %q, want %q", s.KeyID(), tc.key.ID)
			}
		})
	}
}

// opaqueSigner hides the concrete key type, as a KMS or HSM signer would.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

func TestSignWithOpaqueSigner(t *testing.T) {
	f := newFixture(t)
	for _, k := range []*PrivateKey{f.ed, f.ec} {
		opaque := &PrivateKey{ID: k.ID, Alg: k.Alg, Signer: opaqueSigner{k.Signer}}
		if _, err := f.v.Verify(mustSign(t, opaque, baseClaims())); err != nil {
			t.Errorf("%s via opaque signer: %v", k.Alg, err)
		}
		if _, err := opaque.MarshalPKCS8(); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("MarshalPKCS8 of an opaque signer = %v, want ErrInvalidKey", err)
		}
	}
}

func TestSignRefusesInvalidClaims(t *testing.T) {
	s, err := NewSigner(mustGenerate(t, AlgEdDSA))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Claims){
		"no iss":              func(c *Claims) { c.Issuer = "" },
		"no sub":              func(c *Claims) { c.Subject = "" },
		"no client_id":        func(c *Claims) { c.ClientID = "" },
		"no jti":              func(c *Claims) { c.ID = "" },
		"no sid":              func(c *Claims) { c.SessionID = "" },
		"no acr":              func(c *Claims) { c.ACR = "" },
		"no aud":              func(c *Claims) { c.Audience = nil },
		"empty aud":           func(c *Claims) { c.Audience = []string{""} },
		"no amr":              func(c *Claims) { c.AMR = nil },
		"empty amr":           func(c *Claims) { c.AMR = []string{AMRPassword, ""} },
		"no iat":              func(c *Claims) { c.IssuedAt = time.Time{} },
		"no nbf":              func(c *Claims) { c.NotBefore = time.Time{} },
		"no exp":              func(c *Claims) { c.Expiry = time.Time{} },
		"no auth_time":        func(c *Claims) { c.AuthTime = time.Time{} },
		"exp before 1970":     func(c *Claims) { c.Expiry = time.Unix(-1, 0) },
		"exp after 9999":      func(c *Claims) { c.Expiry = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"auth_time after iat": func(c *Claims) { c.AuthTime = c.IssuedAt.Add(time.Second) },
		"over MaxTokenSize":   func(c *Claims) { c.Subject = strings.Repeat("u", MaxTokenSize) },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			c := baseClaims()
			edit(c)
			if _, err := s.Sign(c); !errors.Is(err, ErrInvalidClaims) {
				t.Errorf("Sign = %v, want ErrInvalidClaims", err)
			}
		})
	}
	if _, err := s.Sign(nil); !errors.Is(err, ErrInvalidClaims) {
		t.Errorf("Sign(nil) = %v, want ErrInvalidClaims", err)
	}
}
