package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestNewKeySet(t *testing.T) {
	ed := mustGenerate(t, AlgEdDSA).PublicKey()
	ec := mustGenerate(t, AlgES256).PublicKey()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	lowOrder := make(ed25519.PublicKey, ed25519.PublicKeySize) // the all-zero encoding has order 4
	with := func(k Key, f func(*Key)) Key { f(&k); return k }

	cases := []struct {
		name string
		keys []Key
		ok   bool
	}{
		{"EdDSA and ES256", []Key{ed, ec}, true},
		{"path-like kid is just a name", []Key{with(ed, func(k *Key) { k.ID = "../../etc/passwd" })}, true},
		{"none", nil, false},
		{"empty kid", []Key{with(ed, func(k *Key) { k.ID = "" })}, false},
		{"duplicate kid", []Key{ed, with(ec, func(k *Key) { k.ID = ed.ID })}, false},
		{"alg none", []Key{with(ed, func(k *Key) { k.Alg = "none" })}, false},
		{"alg RS256", []Key{with(ed, func(k *Key) { k.Alg = "RS256" })}, false},
		{"alg lowercase eddsa", []Key{with(ed, func(k *Key) { k.Alg = "eddsa" })}, false},
		{"alg empty", []Key{with(ed, func(k *Key) { k.Alg = "" })}, false},
		{"HS256 secret", []Key{{ID: "h", Alg: "HS256", Public: []byte("secret")}}, false},
		{"EdDSA with ECDSA key", []Key{with(ec, func(k *Key) { k.Alg = AlgEdDSA })}, false},
		{"ES256 with Ed25519 key", []Key{with(ed, func(k *Key) { k.Alg = AlgES256 })}, false},
		{"ES256 with P-384 key", []Key{{ID: "p", Alg: AlgES256, Public: &p384.PublicKey}}, false},
		{"ES256 point off the curve", []Key{{ID: "p", Alg: AlgES256, Public: offCurve}}, false},
		{"ES256 nil key", []Key{{ID: "p", Alg: AlgES256, Public: (*ecdsa.PublicKey)(nil)}}, false},
		{"Ed25519 short", []Key{{ID: "s", Alg: AlgEdDSA, Public: ed25519.PublicKey{1, 2, 3}}}, false},
		{"Ed25519 low order", []Key{{ID: "z", Alg: AlgEdDSA, Public: lowOrder}}, false},
		{"Ed25519 private key", []Key{{ID: "z", Alg: AlgEdDSA,
			Public: mustGenerate(t, AlgEdDSA).Signer}}, false},
		{"nil public", []Key{{ID: "n", Alg: AlgEdDSA}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeySet(tc.keys...)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
				t.Errorf("NewKeySet = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestKeySetAccessors(t *testing.T) {
	a, b := mustGenerate(t, AlgEdDSA).PublicKey(), mustGenerate(t, AlgES256).PublicKey()
	a.ID, b.ID = "b-key", "a-key"
	ks, err := NewKeySet(a, b)
	if err != nil {
		t.Fatal(err)
	}
	keys := ks.Keys()
	if got := []string{keys[0].ID, keys[1].ID}; !slices.Equal(got, []string{"a-key", "b-key"}) {
		t.Errorf("Keys order = %v", got)
	}
	// Changing what Keys and Lookup return must not change the set.
	keys[1].Public.(ed25519.PublicKey)[0] ^= 0xff
	got, ok := ks.Lookup("b-key")
	if !ok || !reflect.DeepEqual(got, a) {
		t.Errorf("Lookup after mutation = %v, %v; want %v", got, ok, a)
	}
	got.Public.(ed25519.PublicKey)[0] ^= 0xff
	if again, _ := ks.Lookup("b-key"); !reflect.DeepEqual(again, a) {
		t.Error("Lookup returned the stored key, not a copy")
	}
	if _, ok := ks.Lookup("nope"); ok {
		t.Error("Lookup found an unknown kid")
	}
	for _, k := range ks.JWKS().Keys {
		if k.Use != "sig" || k.Algorithm == "" || k.KeyID == "" || !k.IsPublic() {
			t.Errorf("JWKS key %+v lacks use, alg or kid, or is private", k)
		}
	}
}

func TestKeySetJSONRoundTrip(t *testing.T) {
	ks, err := NewKeySet(mustGenerate(t, AlgEdDSA).PublicKey(), mustGenerate(t, AlgES256).PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	data, err := ks.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"keys":[`) {
		t.Errorf("MarshalJSON = %s", data)
	}
	back, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Keys(), ks.Keys()) {
		t.Error("keys differ after a JSON round trip")
	}
	data[0] = 'x'
	if again, _ := ks.MarshalJSON(); again[0] != '{' {
		t.Error("MarshalJSON returned its cached slice")
	}
}

func TestParseJWKS(t *testing.T) {
	edPub := mustGenerate(t, AlgEdDSA).Signer.Public().(ed25519.PublicKey)
	x := base64.RawURLEncoding.EncodeToString(edPub)
	ec := mustGenerate(t, AlgES256).Signer.(*ecdsa.PrivateKey)
	ecX := base64.RawURLEncoding.EncodeToString(ec.X.FillBytes(make([]byte, 32)))
	ecY := base64.RawURLEncoding.EncodeToString(ec.Y.FillBytes(make([]byte, 32)))
	ecD := base64.RawURLEncoding.EncodeToString(ec.D.FillBytes(make([]byte, 32)))
	okp := func(extra string) string {
		return `{"kty":"OKP","crv":"Ed25519","x":"` + x + `"` + extra + `}`
	}
	ecKey := func(crv, extra string) string {
		return `{"kty":"EC","crv":"` + crv + `","x":"` + ecX + `","y":"` + ecY + `"` + extra + `}`
	}
	set := func(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }
	good := okp(`,"kid":"k1","alg":"EdDSA","use":"sig"`)

	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"OKP", set(good), true},
		{"OKP without use", set(okp(`,"kid":"k1","alg":"EdDSA"`)), true},
		{"EC", set(ecKey("P-256", `,"kid":"k2","alg":"ES256"`)), true},
		{"both, extra members", `{"keys":[` + good + `,` +
			ecKey("P-256", `,"kid":"k2","alg":"ES256"`) + `],"x":1}`, true},
		{"over 64 KiB", set(good) + strings.Repeat(" ", MaxJWKSSize), false},
		{"not JSON", `keys`, false},
		{"null", `null`, false},
		{"array", `[` + good + `]`, false},
		{"keys not an array", `{"keys":` + good + `}`, false},
		{"no keys", `{"keys":[]}`, false},
		{"KEYS in capitals", `{"KEYS":[` + good + `]}`, false},
		{"keys twice", `{"keys":[` + good + `],"keys":[]}`, false},
		{"duplicate kid", set(good, okp(`,"kid":"k1","alg":"EdDSA"`)), false},
		{"missing kid", set(okp(`,"alg":"EdDSA"`)), false},
		{"kid a number", set(okp(`,"kid":1,"alg":"EdDSA"`)), false},
		{"missing alg", set(okp(`,"kid":"k1"`)), false},
		{"alg none", set(okp(`,"kid":"k1","alg":"none"`)), false},
		{"use enc", set(okp(`,"kid":"k1","alg":"EdDSA","use":"enc"`)), false},
		{"OKP private", set(okp(`,"kid":"k1","alg":"EdDSA","d":"` + x + `"`)), false},
		{"EC private", set(ecKey("P-256", `,"kid":"k2","alg":"ES256","d":"`+ecD+`"`)), false},
		{"oct", set(`{"kty":"oct","k":"c2VjcmV0","kid":"h","alg":"HS256"}`), false},
		{"oct claiming EdDSA", set(`{"kty":"oct","k":"c2VjcmV0","kid":"h","alg":"EdDSA"}`), false},
		{"RSA", set(`{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r","alg":"RS256"}`), false},
		{"EdDSA on an EC key", set(ecKey("P-256", `,"kid":"k2","alg":"EdDSA"`)), false},
		{"ES256 on an OKP key", set(okp(`,"kid":"k1","alg":"ES256"`)), false},
		{"ES256 on P-384", set(ecKey("P-384", `,"kid":"k2","alg":"ES256"`)), false},
		{"Ed448", set(`{"kty":"OKP","crv":"Ed448","x":"` + x + `","kid":"k1","alg":"EdDSA"}`), false},
		{"X25519", set(`{"kty":"OKP","crv":"X25519","x":"` + x + `","kid":"k1","alg":"EdDSA"}`), false},
		{"Ed25519 low order", set(`{"kty":"OKP","crv":"Ed25519","x":"` +
			base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `","kid":"k1","alg":"EdDSA"}`), false},
		{"Ed25519 short", set(`{"kty":"OKP","crv":"Ed25519","x":"AQID","kid":"k1","alg":"EdDSA"}`), false},
		{"EC off the curve", set(`{"kty":"EC","crv":"P-256","x":"` + ecX + `","y":"` + ecX +
			`","kid":"k2","alg":"ES256"}`), false},
		{"x5c", set(okp(`,"kid":"k1","alg":"EdDSA","x5c":[]`)), false},
		{"x5u", set(okp(`,"kid":"k1","alg":"EdDSA","x5u":"https://evil.test"`)), false},
		{"kty missing", set(`{"crv":"Ed25519","x":"` + x + `","kid":"k1","alg":"EdDSA"}`), false},
		{"deep nesting", `{"keys":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJWKS([]byte(tc.doc))
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
				t.Errorf("ParseJWKS = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && (strings.Contains(err.Error(), x) || strings.Contains(err.Error(), ecD)) {
				t.Errorf("error %q quotes key material", err)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		k, err := GenerateKey(alg, bytes.NewReader(bytes.Repeat([]byte{7}, 128)))
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16)); k.ID != want {
			t.Errorf("%s kid = %q, want %q", alg, k.ID, want)
		}
		if err := checkKey(k.PublicKey()); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	for _, alg := range []string{"", "none", "HS256", "RS256", "ES384", "eddsa"} {
		if _, err := GenerateKey(alg, rand.Reader); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("GenerateKey(%q) = %v, want ErrInvalidKey", alg, err)
		}
	}
	if _, err := GenerateKey(AlgEdDSA, bytes.NewReader(make([]byte, 8))); err == nil {
		t.Error("GenerateKey with a short reader succeeded")
	}
}

func TestPrivateKeyPKCS8(t *testing.T) {
	ed, ec := mustGenerate(t, AlgEdDSA), mustGenerate(t, AlgES256)
	edDER, err := ed.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := ec.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := (&PrivateKey{Signer: p384}).MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, id, alg string
		der           []byte
		ok            bool
	}{
		{"EdDSA", ed.ID, AlgEdDSA, edDER, true},
		{"ES256", ec.ID, AlgES256, ecDER, true},
		{"EdDSA DER as ES256", "k", AlgES256, edDER, false},
		{"ES256 DER as EdDSA", "k", AlgEdDSA, ecDER, false},
		{"P-384 as ES256", "k", AlgES256, p384DER, false},
		{"empty kid", "", AlgEdDSA, edDER, false},
		{"garbage", "k", AlgEdDSA, []byte("not DER"), false},
		{"truncated", "k", AlgEdDSA, edDER[:len(edDER)-1], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tc.id, tc.alg, tc.der)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
				t.Fatalf("ParsePrivateKey = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !reflect.DeepEqual(k.PublicKey().Public, map[string]*PrivateKey{
				AlgEdDSA: ed, AlgES256: ec}[tc.alg].PublicKey().Public) {
				t.Error("parsed key differs from the original")
			}
		})
	}
}
