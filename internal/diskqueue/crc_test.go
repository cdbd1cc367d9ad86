package diskqueue

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// checksum3 gives what crc32.Checksum gives, for any three lengths and
// starting alignments (the side-by-side part covers the shortest length,
// rounded down to 8; the rest is finished one by one).
func TestChecksum3(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(rnd.Uint32())
	}
	piece := func() []byte {
		off := rnd.IntN(16)
		n := rnd.IntN(600)
		if rnd.IntN(8) == 0 {
			n = rnd.IntN(9) // empty and shorter than one word
		}
		return buf[off : off+n]
	}
	for range 20000 {
		a, b, c := piece(), piece(), piece()
		ga, gb, gc := checksum3(a, b, c)
		if wa, wb, wc := crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), crc32.Checksum(c, castagnoli); ga != wa || gb != wb || gc != wc {
			t.Fatalf("lengths %d %d %d: checksum3 %08x %08x %08x, want %08x %08x %08x", len(a), len(b), len(c), ga, gb, gc, wa, wb, wc)
		}
	}
}

// Every record of a unit carries the crc of its own bytes, whatever the
// number of records (three at a time, then one by one), and only the last
// is marked as the unit's end.
func TestAppendRecordsChecksums(t *testing.T) {
	for n := 1; n <= 8; n++ {
		var recs [][]byte
		for i := range n {
			recs = append(recs, []byte(string(rune('a'+i))+string(make([]byte, 37*i))))
		}
		buf := appendRecords([]byte("prefix"), recs, 100, 7)[len("prefix"):]
		for i := range n {
			h, ok := parseHeader(buf[:headerSize])
			if !ok || h.seq != uint64(100+i) || int(h.length) != len(recs[i]) {
				t.Fatalf("%d records: record %d header %+v ok=%v", n, i, h, ok)
			}
			if end := h.flags&flagUnitEnd != 0; end != (i == n-1) {
				t.Fatalf("%d records: record %d unit end %v", n, i, end)
			}
			body := buf[8 : headerSize+h.length]
			if got := binary.LittleEndian.Uint32(buf[4:]); got != crc32.Checksum(body, castagnoli) {
				t.Fatalf("%d records: record %d crc %08x, want %08x", n, i, got, crc32.Checksum(body, castagnoli))
			}
			buf = buf[headerSize+h.length:]
		}
		if len(buf) != 0 {
			t.Fatalf("%d records: %d bytes left over", n, len(buf))
		}
	}
}

// Encoding a group of 256 records of 420 to 442 bytes (the agent's usual group),
// with the checksums side by side as appendRecords does, against one after
// the other.
func BenchmarkEncodeGroup(b *testing.B) {
	recs := make([][]byte, 256)
	for i := range recs {
		recs[i] = make([]byte, 420+i%23)
	}
	buf := make([]byte, 0, 256*(442+headerSize))
	b.Run("side-by-side", func(b *testing.B) {
		b.SetBytes(int64(cap(buf)))
		for b.Loop() {
			buf = appendRecords(buf[:0], recs, 1, 1)
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		b.SetBytes(int64(cap(buf)))
		for b.Loop() {
			buf = buf[:0]
			for i, r := range recs {
				start := len(buf)
				buf = appendRecordNoCRC(buf, uint64(i), 1, 0, r)
				binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
			}
		}
	})
}
