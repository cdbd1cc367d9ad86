package remote

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"

	"github.com/logflux/agent/internal/output/outputtest"
)

// ndjson is a request body as the outputs send it: 1000 records of about
// 300 bytes.
func ndjson(tb testing.TB) []byte {
	var b []byte
	for _, r := range outputtest.Bulk(tb, 1000, 300) {
		b = append(append(b, r...), '\n')
	}
	return b
}

// Compress round-trips through the standard library's readers, so any
// receiver can read what it writes.
func TestCompressRoundTrip(t *testing.T) {
	body := ndjson(t)
	var dst []byte
	for range 3 { // the pooled writer and dst reused
		var enc string
		dst, enc = Compress(dst, body, "gzip")
		if enc != "gzip" {
			t.Fatalf("encoding %q", enc)
		}
		zr, err := stdgzip.NewReader(bytes.NewReader(dst))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("gzip round trip: %v, %d bytes of %d", err, len(got), len(body))
		}
	}
}

// BenchmarkGzip: the gzip Compress uses against the standard library's, at
// the same level, on one request body, in wall and CPU time per body:
//
//	go test -run '^$' -bench Gzip ./internal/output/remote/
func BenchmarkGzip(b *testing.B) {
	body := ndjson(b)
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		var dst []byte
		c0 := outputtest.CPUTime(b)
		for b.Loop() {
			dst, _ = Compress(dst, body, "gzip")
		}
		b.ReportMetric(float64(outputtest.CPUTime(b)-c0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(len(dst))/float64(len(body)), "ratio")
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		var buf bytes.Buffer
		w, _ := stdgzip.NewWriterLevel(&buf, stdgzip.BestSpeed)
		c0 := outputtest.CPUTime(b)
		for b.Loop() {
			buf.Reset()
			w.Reset(&buf)
			w.Write(body)
			w.Close()
		}
		b.ReportMetric(float64(outputtest.CPUTime(b)-c0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(buf.Len())/float64(len(body)), "ratio")
	})
}
