package otp

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strconv"
	"testing"
	"time"
)

// RFC 6238 Appendix A keys: each hash has its own seed length (the seed trap).
var (
	seed20 = []byte("12345678901234567890")
	seed32 = []byte("12345678901234567890123456789012")
	seed64 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestSeeds(t *testing.T) {
	if got := hex.EncodeToString(seed32); got !=
		"3132333435363738393031323334353637383930313233343536373839303132" {
		t.Fatalf("seed32 = %s", got)
	}
	if len(seed64) != 64 || !bytes.Equal(seed64[:32], seed32) {
		t.Fatal("seed64 is not the string repeated to 64 bytes")
	}
}

func TestRFC6238Vectors(t *testing.T) {
	type hashCase struct {
		name string
		h    func() hash.Hash
		seed []byte
	}
	sha1c := hashCase{"SHA1", sha1.New, seed20}
	sha256c := hashCase{"SHA256", sha256.New, seed32}
	sha512c := hashCase{"SHA512", sha512.New, seed64}
	tests := []struct {
		unix int64
		step int64
		mode hashCase
		want string
	}{
		{59, 0x1, sha1c, "94287082"},
		{59, 0x1, sha256c, "46119246"},
		{59, 0x1, sha512c, "90693936"},
		{1111111109, 0x23523EC, sha1c, "07081804"},
		{1111111109, 0x23523EC, sha256c, "68084774"},
		{1111111109, 0x23523EC, sha512c, "25091201"},
		{1111111111, 0x23523ED, sha1c, "14050471"},
		{1111111111, 0x23523ED, sha256c, "67062674"},
		{1111111111, 0x23523ED, sha512c, "99943326"},
		{1234567890, 0x273EF07, sha1c, "89005924"},
		{1234567890, 0x273EF07, sha256c, "91819424"},
		{1234567890, 0x273EF07, sha512c, "93441116"},
		{2000000000, 0x3F940AA, sha1c, "69279037"},
		{2000000000, 0x3F940AA, sha256c, "90698825"},
		{2000000000, 0x3F940AA, sha512c, "38618901"},
		{20000000000, 0x27BC86AA, sha1c, "65353130"},
		{20000000000, 0x27BC86AA, sha256c, "77737706"},
		{20000000000, 0x27BC86AA, sha512c, "47863826"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.name+"/"+strconv.FormatInt(tt.unix, 10), func(t *testing.T) {
			step := Step(time.Unix(tt.unix, 0))
			if step != tt.step {
				t.Fatalf("Step = %#x, want %#x", step, tt.step)
			}
			if got := HOTP(tt.mode.seed, step, 8, tt.mode.h); got != tt.want {
				t.Errorf("8 digits = %s, want %s", got, tt.want)
			}
			if got := HOTP(tt.mode.seed, step, 6, tt.mode.h); got != tt.want[2:] {
				t.Errorf("6 digits = %s, want %s", got, tt.want[2:])
			}
		})
	}
}

// TestSeedTrap shows why the seeds matter: the 20-byte key gives another SHA-256 code.
func TestSeedTrap(t *testing.T) {
	if got := HOTP(seed20, 1, 8, sha256.New); got != "32247374" {
		t.Errorf("SHA256 with the 20-byte seed = %s, want 32247374", got)
	}
}

func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := HOTP(seed20, int64(counter), 6, nil); got != w {
			t.Errorf("HOTP(counter %d) = %s, want %s", counter, got, w)
		}
	}
}

func TestHOTPDigitsPanic(t *testing.T) {
	for _, d := range []int{0, 10, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HOTP with %d digits did not panic", d)
				}
			}()
			HOTP(seed20, 0, d, nil)
		}()
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2},
	}
	for _, tt := range tests {
		if got := Step(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1234567890, 0)
	cur := Step(now)
	code := func(s int64) string { return HOTP(seed20, s, Digits, nil) }
	tests := []struct {
		name     string
		code     string
		lastStep int64
		skew     int
		wantOK   bool
		wantStep int64
	}{
		{"now", code(cur), 0, 1, true, cur},
		{"previous step", code(cur - 1), 0, 1, true, cur - 1},
		{"next step", code(cur + 1), 0, 1, true, cur + 1},
		{"two steps back", code(cur - 2), 0, 1, false, 0},
		{"two steps ahead", code(cur + 2), 0, 1, false, 0},
		{"skew 0 rejects previous", code(cur - 1), 0, 0, false, 0},
		{"negative skew is 0", code(cur), 0, -3, true, cur},
		{"skew 2 accepts two back", code(cur - 2), 0, 2, true, cur - 2},
		{"surrounding space", "  " + code(cur) + "\t", 0, 1, true, cur},
		{"replay of same step", code(cur), cur, 1, false, 0},
		{"older than last step", code(cur - 1), cur, 1, false, 0},
		{"after last step", code(cur + 1), cur, 1, true, cur + 1},
		{"last step in future", code(cur), cur + 1, 1, false, 0},
		{"empty", "", 0, 1, false, 0},
		{"five digits", code(cur)[:5], 0, 1, false, 0},
		{"seven digits", code(cur) + "0", 0, 1, false, 0},
		{"inner space", code(cur)[:3] + " " + code(cur)[3:], 0, 1, false, 0},
		{"letter", "12345a", 0, 1, false, 0},
		{"sign", "+12345", 0, 1, false, 0},
		{"arabic-indic digits", "١٢٣٤٥٦", 0, 1, false, 0},
		{"fullwidth digits", "１２３４５６", 0, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Verify(seed20, tt.code, now, tt.lastStep, tt.skew)
			if ok != tt.wantOK || step != tt.wantStep {
				t.Errorf("Verify = (%d, %v), want (%d, %v)", step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestVerifyEmptySecret(t *testing.T) {
	now := time.Unix(1234567890, 0)
	code := HOTP(nil, Step(now), Digits, nil)
	if _, ok := Verify(nil, code, now, 0, 1); ok {
		t.Error("Verify accepted a code for an empty secret")
	}
}

// TestVerifyWrongSecret checks a right-format code for another key fails.
func TestVerifyWrongSecret(t *testing.T) {
	now := time.Unix(1234567890, 0)
	if _, ok := Verify(seed32, HOTP(seed20, Step(now), Digits, nil), now, 0, 1); ok {
		t.Error("Verify accepted another secret's code")
	}
}

func TestSelectInt64(t *testing.T) {
	if selectInt64(1, -5, 7) != -5 || selectInt64(0, -5, 7) != 7 {
		t.Error("selectInt64 picks the wrong value")
	}
}

func TestNewSecret(t *testing.T) {
	s, err := NewSecret(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil || len(s) != SecretSize {
		t.Fatalf("NewSecret = %x, %v", s, err)
	}
	if _, err := NewSecret(bytes.NewReader(make([]byte, SecretSize-1))); err == nil {
		t.Error("NewSecret accepted a short read")
	}
}

func BenchmarkVerify(b *testing.B) {
	now := time.Unix(1234567890, 0)
	code := HOTP(seed20, Step(now)+1, Digits, nil)
	for b.Loop() {
		if _, ok := Verify(seed20, code, now, 0, 1); !ok {
			b.Fatal("Verify failed")
		}
	}
}
