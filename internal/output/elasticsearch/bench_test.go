package elasticsearch_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/logflux/agent/internal/component"
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

// BenchmarkMillion: 1,000,000 records of about 300 bytes through the
// dispatcher from a memory or a disk queue (filled before the clock
// starts) into a local _bulk endpoint that decompresses every body and
// answers as Elasticsearch does, one item per action, with the defaults
// (gzip, batches of 1000). Reports entries/s and entries per CPU second of
// the whole process (the endpoint included):
//
//	go test -run XXX -bench Million -benchtime 1x ./internal/output/elasticsearch/
func BenchmarkMillion(b *testing.B) {
	recs := outputtest.Bulk(b, outputtest.BenchEntries(b, 1_000_000), 300)
	b.Run("memory", func(b *testing.B) {
		out := newOutput(b, []string{bulkSink(b).URL}, nil)
		outputtest.BenchDrain(b, out, recs)
	})
	b.Run("disk", func(b *testing.B) {
		out := newOutput(b, []string{bulkSink(b).URL}, nil)
		outputtest.BenchDrainDisk(b, out, recs)
	})
	b.Run("disk-batch5k", func(b *testing.B) { // batches of 5000 entries (8 MiB)
		out := newOutput(b, []string{bulkSink(b).URL}, func(c *elasticsearch.Config) {
			c.Batch.MaxEntries, c.Batch.MaxBytes = 5000, component.ByteSize(8<<20)
		})
		outputtest.BenchDrainDisk(b, out, recs)
	})
}

// bulkSink answers a _bulk request with one created item per action.
func bulkSink(b *testing.B) *httptest.Server {
	const item = `{"create":{"_index":"logs","_id":"x","_version":1,"result":"created","status":201}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, _ := io.ReadAll(body)
		n := bytes.Count(data, []byte{'\n'}) / 2
		out := make([]byte, 0, 40+n*(len(item)+1))
		out = append(out, `{"took":1,"errors":false,"items":[`...)
		for i := range n {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, item...)
		}
		w.Write(append(out, "]}"...))
	}))
	b.Cleanup(srv.Close)
	return srv
}
