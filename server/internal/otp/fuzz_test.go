package otp

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// These fuzz targets compare the second-factor checks with independent references.
// Seed corpora are in testdata/fuzz/<name>; .ci/run runs each for a few seconds.

// FuzzVerifyTOTP compares Verify with a TOTP check built on github.com/pquerna/otp's
// HOTP: the same verdict and step for any secret, code, time, last used step and skew,
// and never a step at or below lastStep (RFC 6238 §5.2).
func FuzzVerifyTOTP(f *testing.F) {
	now := int64(1111111109)
	right := HOTP(seed20, Step(time.Unix(now, 0)), Digits, nil)
	f.Add(seed20, right, now, int64(-1), int8(1))
	f.Add(seed20, right, now, Step(time.Unix(now, 0)), int8(1))
	f.Add(seed20, " "+right+"\n", now, int64(0), int8(0))
	f.Add(seed20, "07081804", now, int64(0), int8(1))
	f.Add(seed20, "٠٠٠٠٠٠", now, int64(0), int8(1))
	f.Add([]byte{}, "000000", int64(0), int64(-1), int8(1))
	f.Add(seed20, right, int64(-59), int64(-10), int8(-3))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, lastStep int64, skew int8) {
		at := time.Unix(unix, 0)
		step, ok := Verify(secret, code, at, lastStep, int(skew))
		wantStep, wantOK := referenceVerify(t, secret, code, at, lastStep, int(skew))
		if ok != wantOK || step != wantStep {
			t.Fatalf("Verify = %d, %v; reference %d, %v", step, ok, wantStep, wantOK)
		}
		if ok && step <= lastStep {
			t.Fatalf("accepted step %d at or below the last used step %d", step, lastStep)
		}
	})
}

// referenceVerify is RFC 6238 verification with pquerna's HOTP: the latest step in
// the window above lastStep whose six-digit code equals the trimmed code.
func referenceVerify(t *testing.T, secret []byte, code string, at time.Time,
	lastStep int64, skew int) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(secret) == 0 || len(code) != Digits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	window := int64(max(skew, 0))
	var found int64
	ok := false
	for s := Step(at) - window; s <= Step(at)+window; s++ {
		if s <= lastStep {
			continue
		}
		want, err := hotp.GenerateCodeCustom(b32, uint64(s), hotp.ValidateOpts{
			Digits: potp.DigitsSix, Algorithm: potp.AlgorithmSHA1})
		if err != nil {
			t.Fatalf("pquerna: %v", err)
		}
		if want == code {
			found, ok = s, true
		}
	}
	return found, ok
}

// FuzzNormalizeRecoveryCode: whatever is accepted is 12 symbols of the alphabet, is a
// fixed point, and equals what a plain reference makes of the input; nothing longer
// than 64 bytes and nothing outside ASCII is accepted.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{
		"abcd-efgh-jkmn", "ABCD EFGH JKMN", "oIlL-4567-89vw", "abcd-efgh-jkm\u212a",
		"abcd-efgh-jkmu", strings.Repeat("-", 64) + "abcdefghjkmn", "", "a-b-c-d-e-f-g-h-j-k-m-n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := NormalizeRecoveryCode(in)
		want, wantOK := referenceNormalize(in)
		if ok != wantOK || got != want {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q, %v; reference %q, %v", in, got, ok, want, wantOK)
		}
		if !ok {
			return
		}
		if again, ok2 := NormalizeRecoveryCode(got); !ok2 || again != got {
			t.Fatalf("not a fixed point: %q -> %q, %v", got, again, ok2)
		}
		if len(got) != recoveryCodeLen || strings.Trim(got, recoveryAlphabet) != "" {
			t.Fatalf("accepted %q outside the alphabet", got)
		}
	})
}

// referenceNormalize drops spaces and dashes, lower-cases ASCII, reads i and l as 1
// and o as 0, and wants exactly 12 symbols of Crockford's alphabet, from at most 64
// bytes.
func referenceNormalize(in string) (string, bool) {
	if len(in) > maxRecoveryInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range in {
		switch {
		case r == ' ' || r == '-':
			continue
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		}
		switch r {
		case 'i', 'l':
			r = '1'
		case 'o':
			r = '0'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}
