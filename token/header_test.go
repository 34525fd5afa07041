package token

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4/json"
)

var headerSeeds = []string{
	`{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}`,
	`{"alg":"ES256","kid":"k1","typ":"application/AT+JWT"}`,
	` {"typ" : "at+jwt" ,"alg":"EdDSA"} `,
	`{"alg":"EdDSA"}`,
	`{}`,
	`{"alg":"EdDSA","alg":"none"}`,
	`{"alg":"EdDSA","jku":"https://evil.test"}`,
	`{"alg":"EdDSA","crit":null}`,
	`{"alg":"EdDSA","typ":"at\u002bjwt"}`,
	`{"alg":"EdDSA","typ":1}`,
	`{"alg":"EdDSA",}`,
	`{"alg":"EdDSA"}{}`,
	`{"alg":"EdDSA"`,
	`{"ALG":"EdDSA"}`,
	`{"alg":"EdDSA","kid":"a\"b"}`,
	`["alg","EdDSA"]`,
	`{"alg":"EdDSA","kid":"é"}`,
	"{\"alg\":\"EdDSA\",\"kid\":\"\x00\"}",
	`{"alg" "EdDSA"}`,
	`{,"alg":"EdDSA"}`,
	"\ufeff{\"alg\":\"EdDSA\"}",
}

func TestScanHeader(t *testing.T) {
	cases := []struct {
		in    string
		typOK bool
		err   error // nil, errHeader or errHeaderName
	}{
		{headerSeeds[0], true, nil},
		{headerSeeds[1], true, nil},
		{headerSeeds[2], true, nil},
		{headerSeeds[3], false, nil},
		{headerSeeds[4], false, nil},
		{`{"alg":"EdDSA","typ":"JWT"}`, false, nil},
		{headerSeeds[5], false, errHeaderName},
		{headerSeeds[6], false, errHeaderName},
		{headerSeeds[7], false, errHeaderName},
		{`{"x5c":["MII"],"alg":"EdDSA"}`, false, errHeaderName},
		{`{"jwk":{},"alg":"EdDSA"}`, false, errHeaderName},
		{`{"alg":"EdDSA","x5u":"u"}`, false, errHeaderName},
		{headerSeeds[13], false, errHeaderName},
		{headerSeeds[8], false, errHeader},
		{headerSeeds[9], false, errHeader},
		{headerSeeds[10], false, errHeader},
		{headerSeeds[11], false, errHeader},
		{headerSeeds[12], false, errHeader},
		{headerSeeds[14], false, errHeader},
		{headerSeeds[15], false, errHeader},
		{headerSeeds[16], false, errHeader},
		{headerSeeds[17], false, errHeader},
		{headerSeeds[18], false, errHeader},
		{headerSeeds[19], false, errHeader},
		{headerSeeds[20], false, errHeader},
		{``, false, errHeader},
		{`{"alg":"EdDSA","typ":"at+jwt","kid":null}`, false, errHeader},
	}
	for _, tc := range cases {
		typOK, err := scanHeader([]byte(tc.in))
		if typOK != tc.typOK || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("scanHeader(%q) = %v, %v; want %v, %v", tc.in, typOK, err, tc.typOK, tc.err)
		}
	}
}

func TestCheckHeaderSize(t *testing.T) {
	kid := strings.Repeat("k", maxHeaderLen-len(`{"alg":"EdDSA","kid":""}`))
	if _, err := checkHeader(b64(`{"alg":"EdDSA","kid":"` + kid + `"}`)); err != nil {
		t.Errorf("header of maxHeaderLen bytes: %v", err)
	}
	if _, err := checkHeader(b64(`{"alg":"EdDSA","kid":"` + kid + `k"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("header over maxHeaderLen: %v", err)
	}
	if _, err := checkHeader("e30=" /* padded */); !errors.Is(err, ErrMalformed) {
		t.Errorf("padded segment: %v", err)
	}
}

// FuzzCheckHeader checks that every header the scanner accepts decodes, with
// go-jose's own JSON decoder, to string members among alg, kid and typ, with the same
// verdict on typ: the two parsers cannot disagree about an accepted header.
func FuzzCheckHeader(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typOK, err := scanHeader(b)
		if err != nil {
			return
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("scanner accepted %q, go-jose's decoder refused it: %v", b, err)
		}
		for name := range m {
			if name != "alg" && name != "kid" && name != "typ" {
				t.Fatalf("scanner accepted %q with member %q", b, name)
			}
		}
		typ, has := m["typ"]
		if want := has && isAccessTokenType([]byte(typ)); typOK != want {
			t.Fatalf("scanner typOK = %v for %q, go-jose's decoder says %v", typOK, b, want)
		}
	})
}

func TestNewSignerKeyID(t *testing.T) {
	k := mustGenerate(t, AlgEdDSA)
	cases := map[string]bool{
		"k1": true, "2024-01/ed25519:a+b=": true, "with space": true,
		strings.Repeat("k", MaxKeyIDLen):   true,
		strings.Repeat("k", MaxKeyIDLen+1): false,
		"":                                 false,
		`a"b`:                              false,
		`a\b`:                              false,
		"a<b":                              false,
		"a&b":                              false,
		"tab\t":                            false,
		"clé":                              false,
	}
	for kid, ok := range cases {
		_, err := NewSigner(&PrivateKey{ID: kid, Alg: k.Alg, Signer: k.Signer})
		if (err == nil) != ok {
			t.Errorf("NewSigner(kid %q) = %v, want ok=%v", kid, err, ok)
		}
	}
}

func TestSignerKeyIDsVerify(t *testing.T) {
	f := newFixture(t)
	k := &PrivateKey{ID: "2024-01/ed:a+b= c", Alg: AlgEdDSA, Signer: f.ed.Signer}
	set, err := NewKeySet(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	f.set = set
	if _, err := f.v.Verify(mustSign(t, k, baseClaims())); err != nil {
		t.Errorf("token with an unusual but valid kid: %v", err)
	}
}
