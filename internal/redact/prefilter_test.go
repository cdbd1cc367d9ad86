package redact

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// anchorsExact is what anchors computes for 32 bytes or more where the CPU
// has AVX2 (scanAVX2), a byte at a time: the anchor bytes, "be" in any
// case, and the beginning of a card anywhere in p: 13 digits in a row,
// "DDDD DDDD DDDD D" or "DDDD DDDDDD DDDD" (D a digit, ' ' a ' ' or '-').
func anchorsExact(p []byte) uint16 {
	var m uint16
	for i, c := range p {
		m |= anchorTable[c] &^ aB
		if c|0x20 == 'b' && i+1 < len(p) && p[i+1]|0x20 == 'e' {
			m |= aB
		}
	}
	shape := func(i int, s string) bool {
		if i+len(s) > len(p) {
			return false
		}
		for k := range len(s) {
			c := p[i+k]
			if s[k] == 'D' && class[c]&cDigit == 0 || s[k] == ' ' && c != ' ' && c != '-' {
				return false
			}
		}
		return true
	}
	for i := range p {
		if shape(i, "DDDDDDDDDDDDD") || shape(i, "DDDD DDDD DDDD D") || shape(i, "DDDD DDDDDD DDDD") {
			m |= aCard
		}
	}
	return m
}

// TestAnchorsWideExact: every byte value at every position of texts of
// every length around the block sizes, and random texts, give the exact
// anchor bits (a missed bit would let a secret through unredacted).
func TestAnchorsWideExact(t *testing.T) {
	if !hasAVX2 {
		t.Skip("the wide pass is the byte-at-a-time one here (no AVX2); TestPrefilterSound covers it")
	}
	for _, n := range []int{32, 33, 34, 63, 64, 65, 66, 97, 130} {
		p := bytes.Repeat([]byte{'x'}, n)
		for k := 0; k < n; k++ {
			for c := 0; c < 256; c++ {
				p[k] = byte(c)
				if got, want := anchors(p), anchorsExact(p); got != want {
					t.Fatalf("len %d, byte %#x at %d: anchors %#x, want %#x", n, c, k, got, want)
				}
			}
			p[k] = 'x'
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := range 40000 {
		alphabet := []byte("0123456789 -bBeEaA@=:_.Jx\x80\xff")
		if n%2 == 1 {
			alphabet = []byte("0123456789012345678901234567890123456789 -x")
		}
		p := make([]byte, 32+rnd.IntN(200))
		for i := range p {
			p[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		if got, want := anchors(p), anchorsExact(p); got != want {
			t.Fatalf("%q: anchors %#x, want %#x", p, got, want)
		}
	}
}

// TestAnchorsShortNarrow: the short pass gives the narrow pass's bits for
// every text under wideText bytes.
func TestAnchorsShortNarrow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("0123456789 -bBeEaA@=:_.Jx\x80\xff")
	for range 20000 {
		p := make([]byte, rnd.IntN(wideText))
		for i := range p {
			p[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		if got, want := anchorsShort(p), anchorsNarrow(p); got != want {
			t.Fatalf("%q: short pass %#x, narrow pass %#x", p, got, want)
		}
	}
}

// TestPrefilterSound: a detector that finds a match in a text always has
// one of its anchor bits set for that text, on every path (wide, narrow).
func TestPrefilterSound(t *testing.T) {
	texts := append([]string{}, benchMix...)
	texts = append(texts,
		"card 4111 1111 1111 1111 end", "4111-1111-1111-1111", "x4111111111111111", "pan=378282246310005;",
		"  4111 1111 1111 1111", "a 4111 111111 11112 b", "AUTHORIZATION: BEARER abcdefghijklmnopqrstu",
		"bEaReR abcdefghijklmnopqrstu", strings.Repeat("9", 13),
		"12345 4111 1111 1111 1111", "4111 111111 11112", "5555-5555-5555-4444 x", "3782 822463 10005",
	)
	for _, s := range texts {
		for pad := 0; pad < 40; pad++ {
			p := []byte(strings.Repeat("w", pad) + s)
			for _, d := range detectors {
				if a, _ := d.find(p, 0); a >= 0 && d.need != 0 && anchors(p)&d.need == 0 {
					t.Errorf("%s finds a match in %q but its anchors %#x are not set", d.name, p, d.need)
				}
				if a, _ := d.find(p, 0); a >= 0 && d.need != 0 && anchorsNarrow(p)&d.need == 0 {
					t.Errorf("%s finds a match in %q but the narrow pass misses its anchors", d.name, p)
				}
				if a, _ := d.find(p, 0); a >= 0 && d.need != 0 && anchorsShort(p)&d.need == 0 {
					t.Errorf("%s finds a match in %q but the short pass misses its anchors", d.name, p)
				}
			}
		}
	}
}

// BenchmarkAnchors: the pass alone on one text of each length (the same
// text every time, so the branches are learnt), and on 1,024 lines like
// the benchmark workload's in turn (branches as the agent meets them).
func BenchmarkAnchors(b *testing.B) {
	b.Run("workload-lines", func(b *testing.B) {
		var ps [][]byte
		for _, l := range workloadLines(1024) {
			ps = append(ps, []byte(l))
		}
		i := 0
		for b.Loop() {
			anchors(ps[i%len(ps)])
			i++
		}
	})
	for _, n := range []int{16, 32, 48, 64, 172, 1024} {
		p := []byte(strings.Repeat(benchMix[0], 1+n/len(benchMix[0]))[:n])
		b.Run(fmt.Sprint("narrow/", n), func(b *testing.B) {
			for b.Loop() {
				anchorsNarrow(p)
			}
		})
		b.Run(fmt.Sprint("anchors/", n), func(b *testing.B) {
			for b.Loop() {
				anchors(p)
			}
		})
	}
}
