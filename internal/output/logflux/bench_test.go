package logflux

import (
	"fmt"
	"testing"

	"github.com/logflux/agent/internal/ingestsim"
)

// BenchmarkPrepareSeal measures the per-entry work, step by step: map to
// the v2.0 payload, gzip, encrypt.
func BenchmarkPrepareSeal(b *testing.B) {
	recs := makeRecords("bench", 100)
	aead, _ := newAEAD(make([]byte, 32))
	var c compressor
	var payloads, gzipped [][]byte
	size := 0
	for _, r := range recs {
		m, err := mapRecord(r, fixedNow)
		if err != nil {
			b.Fatal(err)
		}
		gz, _ := c.compress(m.json)
		payloads, gzipped = append(payloads, m.json), append(gzipped, gz)
		size += len(m.json)
	}
	perEntry := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/entry")
	}
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range recs {
				mapRecord(r, fixedNow)
			}
		}
		perEntry(b)
	})
	b.Run("gzip", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			for _, p := range payloads {
				c.compress(p)
			}
		}
		perEntry(b)
	})
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, g := range gzipped {
				seal(aead, g)
			}
		}
		perEntry(b)
	})
}

// BenchmarkWrite measures whole batches sent to the simulator over loopback
// (the simulator's decryption and checks included).
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, ts := newSim(b, ingestsim.Options{Retain: -1})
			o, _ := newOutput(b, ts, Config{})
			recs := makeRecords("bench", n)
			b.ReportAllocs()
			for b.Loop() {
				if err := o.Write(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}
