package token

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

func benchmarkVerify(b *testing.B, alg string) {
	f := newFixture(b)
	k := f.ed
	if alg == AlgES256 {
		k = f.ec
	}
	raw := mustSign(b, k, baseClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyEdDSA is the full Verify of a typical token.
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, AlgEdDSA) }

// BenchmarkVerifyES256 is the full Verify of a typical token.
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, AlgES256) }

// BenchmarkEd25519Raw is the floor: ed25519.Verify alone over the same input.
func BenchmarkEd25519Raw(b *testing.B) {
	f := newFixture(b)
	raw := mustSign(b, f.ed, baseClaims())
	dot := strings.LastIndexByte(raw, '.')
	input := []byte(raw[:dot])
	sig := rawSign(b, f.ed, raw[:dot])
	pub := f.ed.Signer.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkPrefilter measures the pre-decoding check on a valid token and on the
// largest junk it has to scan.
func BenchmarkPrefilter(b *testing.B) {
	f := newFixture(b)
	for name, raw := range map[string]string{
		"token":     mustSign(b, f.ed, baseClaims()),
		"8KiB":      strings.Repeat("A", MaxTokenSize-4) + ".A.A",
		"1MiB-dots": strings.Repeat(".", 1<<20),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Prefilter(raw)
			}
		})
	}
}

// BenchmarkVerifyJunk is the cost of rejecting a token whose signature is wrong:
// the most an unauthenticated caller can make Verify do.
func BenchmarkVerifyJunk(b *testing.B) {
	f := newFixture(b)
	raw := mustSign(b, f.ed, baseClaims())
	raw = raw[:len(raw)-10] + strings.Repeat("A", 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(raw); err == nil {
			b.Fatal("accepted")
		}
	}
}
