package otlp_test

import (
	"testing"

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
