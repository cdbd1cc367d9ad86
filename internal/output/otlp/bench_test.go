package otlp_test

import (
	"testing"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/otlp"
	"github.com/logflux/agent/internal/output/outputtest"
)

// BenchmarkWrite: records into a local receiver, batches of 1000:
// go test -run '^$' -bench Write ./internal/output/otlp/
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct{ enc, comp string }{{"protobuf", "gzip"}, {"protobuf", "none"}, {"json", "gzip"}} {
		b.Run(c.enc+"-"+c.comp, func(b *testing.B) {
			srv := outputtest.Drain(b, nil)
			out := newOutputB(b, srv.URL, func(cfg *otlp.Config) { cfg.Encoding, cfg.Compression = c.enc, c.comp })
			outputtest.BenchWrite(b, out, 1000)
		})
	}
}

// BenchmarkMillion: 1,000,000 records of about 300 bytes (8 sources),
// through the dispatcher from a memory or a disk queue (filled before the
// clock starts) into a local receiver that reads every body, with the
// defaults (protobuf, gzip, batches of 1000). Reports entries/s and
// entries per CPU second of the whole process (receiver included):
//
//	go test -run XXX -bench Million -benchtime 1x ./internal/output/otlp/
func BenchmarkMillion(b *testing.B) {
	recs := outputtest.Bulk(b, outputtest.BenchEntries(b, 1_000_000), 300)
	b.Run("memory", func(b *testing.B) {
		out := newOutputB(b, outputtest.Drain(b, nil).URL, nil)
		outputtest.BenchDrain(b, out, recs)
	})
	b.Run("disk", func(b *testing.B) {
		out := newOutputB(b, outputtest.Drain(b, nil).URL, nil)
		outputtest.BenchDrainDisk(b, out, recs)
	})
	b.Run("disk-batch5k", func(b *testing.B) { // batches of 5000 entries (8 MiB)
		out := newOutputB(b, outputtest.Drain(b, nil).URL, func(c *otlp.Config) {
			c.Batch.MaxEntries, c.Batch.MaxBytes = 5000, component.ByteSize(8<<20)
		})
		outputtest.BenchDrainDisk(b, out, recs)
	})
}
