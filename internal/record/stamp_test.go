package record_test

import (
	"strings"
	"testing"

	"github.com/logflux/agent/internal/record"
)

// ReadStamp agrees with Parse on the agent's records and on others, and
// refuses what Parse refuses.
func TestReadStamp(t *testing.T) {
	long := strings.Repeat("n", 300)
	for _, rec := range []string{
		`{"id":"0193a5b2-7c4e-7d2a-9f1e-000000000001","receivedAt":"2026-12-07T05:12:09.123456789Z","version":"1.0","timestamp":"2026-12-07T05:12:09Z","entryType":1,"logLevel":7,"source":"web","payloadType":"generic","payload":"x"}`,
		`{"id":"0193a5b2","receivedAt":"2026-12-07T05:12:09Z","input":"files","version":"1.0","timestamp":"2026-12-06T23:59:59.5Z","entryType":1,"logLevel":7,"source":"web","payloadType":"generic","payload":"x","metadata":{"timestamp":"no"}}`,
		`{"id":"0193a5b2","receivedAt":"2026-12-07T05:12:09Z","input":"` + long + `","version":"1.0","timestamp":"2026-12-06T23:59:59Z","entryType":1,"logLevel":7,"source":"web","payloadType":"generic","payload":"x"}`,
		`{"timestamp":"2026-01-01T00:00:00Z","id":"other-order","payload":"x"}`,
		`{"id":"esc\u0041ped","receivedAt":"r","version":"1.0","timestamp":"2026-01-01T00:00:00Z"}`,
	} {
		e, err := record.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		id, ts, err := record.ReadStamp([]byte(rec))
		if err != nil || id != e.ID || ts != e.Timestamp {
			t.Errorf("ReadStamp(%.60q) = %q, %q, %v; Parse says %q, %q", rec, id, ts, err, e.ID, e.Timestamp)
		}
	}
	for _, rec := range []string{`{"id":"x","timestamp":`, `not json`, `{"payload":"no id"}`} {
		if _, _, err := record.ReadStamp([]byte(rec)); err == nil {
			t.Errorf("ReadStamp(%q) took it", rec)
		}
	}
}
