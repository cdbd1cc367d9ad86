package protocol

import (
	"strconv"
	"strings"
	"testing"
)

func BenchmarkPlainString(b *testing.B) {
	for _, n := range []int{8, 24, 172, 1000} {
		line := []byte(`"` + strings.Repeat("abc def 12", n/10+1)[:n] + `",`)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if end, _ := plainString(line, 0); end != n+2 {
					b.Fatal(end)
				}
			}
		})
	}
}

// plainBlocks must stop exactly where a byte-by-byte look would, for every
// kind of byte that ends a plain run, at every offset of a block.
func TestPlainBlocks(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	want := func(b []byte) int {
		whole := len(b) &^ 31
		if !hasAVX2 {
			return 0
		}
		for i, c := range b[:whole] {
			if isSpecial(c) {
				return i
			}
		}
		return whole
	}
	base := []byte(strings.Repeat("The quick brown fox, 0123456789.", 8)) // 256 plain bytes
	for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xc3, 0xff} {
		for n := 0; n <= len(base); n += 7 {
			for pos := 0; pos < n; pos += 3 {
				b := append([]byte(nil), base[:n]...)
				b[pos] = c
				if got, w := plainBlocks(b), want(b); got != w {
					t.Fatalf("byte %#x at %d of %d: plainBlocks %d, want %d", c, pos, n, got, w)
				}
			}
			if got, w := plainBlocks(base[:n]), want(base[:n]); got != w {
				t.Fatalf("%d plain bytes: plainBlocks %d, want %d", n, got, w)
			}
		}
	}
	for _, c := range []byte{' ', '!', '#', '[', ']', 0x7f} {
		if b := []byte(strings.Repeat(string(c), 64)); plainBlocks(b) != want(b) {
			t.Fatalf("%#x is plain, yet plainBlocks stopped at %d", c, plainBlocks(b))
		}
	}
}

// specialMask flags exactly the bytes a byte-by-byte look flags, for lines
// of every length around the 64-byte blocks, with each kind of byte at
// every offset.
func TestSpecialMask(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2: the decoder does not use specialMask here")
	}
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	base := []byte(strings.Repeat("The quick brown fox, 0123456789.", 8)) // 256 plain bytes
	for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff} {
		for n := 0; n <= len(base); n++ {
			for pos := 0; pos < n; pos += 5 {
				line := append([]byte(nil), base[:n]...)
				line[pos] = c
				line[n-1-pos/2] = c
				mask := make([]uint64, (n+63)>>6)
				specialMask(line, mask)
				for j := range (n + 63) &^ 63 {
					want := j < n && isSpecial(line[j])
					if got := mask[j>>6]>>(j&63)&1 == 1; got != want {
						t.Fatalf("byte %#x at %d and %d of %d: bit %d is %v, want %v", c, pos, n-1-pos/2, n, j, got, want)
					}
				}
			}
		}
	}
}

// plain says whether a string is all plain bytes exactly as plainRun does,
// for strings of every length around words and blocks, with each kind of
// byte that is not plain at every offset.
func TestPlain(t *testing.T) {
	base := []byte(strings.Repeat("The quick brown fox, 0123456789.", 4)) // 128 plain bytes
	for n := 0; n <= len(base); n++ {
		if !plain(base[:n]) {
			t.Fatalf("%d plain bytes: plain says no", n)
		}
		for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xc3, 0xff} {
			for pos := 0; pos < n; pos++ {
				b := append([]byte(nil), base[:n]...)
				b[pos] = c
				if plain(b) || plainRun(b) != pos {
					t.Fatalf("byte %#x at %d of %d: plain says yes (plainRun %d)", c, pos, n, plainRun(b))
				}
			}
		}
	}
	for _, c := range []byte{' ', '!', '#', '[', ']', 0x7f} {
		if b := []byte(strings.Repeat(string(c), 40)); !plain(b) || !plain(b[:5]) {
			t.Fatalf("%#x is plain, yet plain says no", c)
		}
	}
}
