package elasticsearch_test

import (
	"testing"

	"github.com/logflux/agent/internal/output/elasticsearch"
	"github.com/logflux/agent/internal/output/outputtest"
)

// BenchmarkWrite: records into a local _bulk endpoint that answers
// success without items, batches of 1000:
// go test -run '^$' -bench Write ./internal/output/elasticsearch/
func BenchmarkWrite(b *testing.B) {
	srv := outputtest.Drain(b, []byte(`{"took":1,"errors":false,"items":[]}`))
	out := newOutput(b, []string{srv.URL}, func(c *elasticsearch.Config) {})
	outputtest.BenchWrite(b, out, 1000)
}
