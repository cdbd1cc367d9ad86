package record

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/logflux/agent/internal/protocol"
)

// sampleRecords are records as the agent writes them: with and without an
// input's name, metadata and escapes, and a few written otherwise.
func sampleRecords(tb testing.TB) [][]byte {
	tb.Helper()
	var recs [][]byte
	var d protocol.Decoder
	for _, in := range []string{
		`{"version":"1.0","payload":"user login 1234 token refreshed 55555 GET /api/v1/items","entryType":1,"source":"api-gateway","logLevel":6,"metadata":{"seq":"12345"}}`,
		`{"version":"1.0","timestamp":"2026-01-02T03:04:05+01:00","payload":"tab\there \"q\" \\ \u00e9 \ud83d\ude00 \u0001","entryType":5,"source":"a\\b","logLevel":2,"payloadType":"generic_json","metadata":{"k":"v","é":"ü","x\ny":"\"z\""}}`,
		`{"version":"1.0","payload":"plain","entryType":3,"source":"s","logLevel":8}`,
	} {
		msg, err := d.Decode([]byte(in))
		if err != nil {
			tb.Fatal(err)
		}
		for _, input := range []string{"", `tail "x"`} {
			s := protocol.Stamp{Input: input}
			s.Set(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
			recs = append(recs, protocol.AppendRecordStamp(nil, &msg.Entries[0], &s))
		}
	}
	return append(recs,
		[]byte(`{"id":"x","receivedAt":"r","version":"1.0","timestamp":"t","entryType":1,"logLevel":6,"source":"s","payloadType":"generic","payload":"p","metadata":{}}`),
		[]byte(`{"payload":"p","id":"x"}`),                     // another order
		[]byte(` {"id":"x","receivedAt":"r","version":"1.0"}`), // whitespace, members missing
		[]byte(`{"id":"\ud800","receivedAt":"r","version":"1.0","timestamp":"t","entryType":1,"logLevel":6,"source":"s","payloadType":"g","payload":"\xff"}`),
	)
}

// TestParseLayoutReadsAgentRecords: every record the agent writes is read
// by the fast path, as encoding/json reads it.
func TestParseLayoutReadsAgentRecords(t *testing.T) {
	recs := sampleRecords(t)
	for _, rec := range recs[:6] {
		got, ok := parseLayout(rec)
		if !ok {
			t.Fatalf("the fast path declined an agent record: %s", rec)
		}
		want, err := parseJSON(rec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("fast path\n%+v\nencoding/json (%v)\n%+v", got, err, want)
		}
	}
}

// FuzzParseAgrees: whatever the bytes, Parse returns what encoding/json
// returns (the same entry, or an error when it errs), and when the fast
// path reads a record, encoding/json reads the same.
func FuzzParseAgrees(f *testing.F) {
	for _, rec := range sampleRecords(f) {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var want Entry
		werr := json.Unmarshal(rec, &want)
		if fast, ok := parseLayout(rec); ok {
			if werr != nil {
				t.Fatalf("the fast path read %q, which encoding/json refuses: %v", rec, werr)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("%q:\nfast path     %+v\nencoding/json %+v", rec, fast, want)
			}
		}
		got, err := Parse(rec)
		if (err != nil) != (werr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Parse %+v, %v; encoding/json %+v, %v", rec, got, err, want, werr)
		}
	})
}

// BenchmarkParse: an agent record of the benchmark workload's kind, read
// by Parse (the fast path) and by encoding/json.
func BenchmarkParse(b *testing.B) {
	rec := sampleRecords(b)[1]
	for _, c := range []struct {
		name  string
		parse func([]byte) (Entry, error)
	}{{"layout", Parse}, {"encoding-json", parseJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(rec)))
			for b.Loop() {
				if _, err := c.parse(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
