package otlp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/record"
)

// wireEntries are entries that exercise every branch of the encoder.
func wireEntries() []record.Entry {
	es := []record.Entry{
		{ID: "a", ReceivedAt: "2026-12-07T05:12:09.123456789Z", Timestamp: "2026-12-07T05:12:09Z", EntryType: 1, LogLevel: 7, Source: "web", PayloadType: "generic", Payload: "GET / 200"},
		{ID: "b", ReceivedAt: "2024-02-29T23:59:59.5Z", Timestamp: "2024-02-29T23:59:59.000001Z", EntryType: 3, LogLevel: 1, Source: "db", PayloadType: "generic_json", Payload: `{"user":"ann","n":3,"ok":true,"x":[1.5,null]}`,
			Metadata: map[string]string{"zone": "eu", "app": "shop", "k": ""}, Input: "agent_api"},
		{ID: "c", ReceivedAt: "not a time", Timestamp: "2026-12-07T06:12:09+01:00", EntryType: 0, LogLevel: 0, Source: "web", PayloadType: "generic_json", Payload: `{not json`},
		{ID: "d", ReceivedAt: "2026-02-30T00:00:00Z", Timestamp: "1969-12-31T23:59:59Z", EntryType: 7, LogLevel: 9, Source: "", PayloadType: "", Payload: ""},
		{ID: "e", ReceivedAt: "2026-12-07T05:12:09.1234567891Z", Timestamp: "2026-12-07T05:12:09.Z", LogLevel: 5, Source: "ünïcode", Payload: "ü€😀 " + string(make([]byte, 300))},
	}
	for i := range 200 { // a body over 16 KiB, and long varints
		es = append(es, record.Entry{ID: fmt.Sprint("many-", i), ReceivedAt: "2026-12-07T05:12:09Z", Timestamp: "2026-12-07T05:12:09Z",
			EntryType: 1, LogLevel: 1 + i%8, Source: fmt.Sprint("s", i%3), PayloadType: "generic", Payload: fmt.Sprint("line ", i)})
	}
	return es
}

// The protobuf written directly is the message the structs describe, for
// every kind of entry, and stays so when the encoder's buffers are reused.
func TestWireMatchesProto(t *testing.T) {
	cfg := Factory{}.NewConfig().(*Config)
	cfg.Resource = map[string]string{"deployment.environment": "test", "cloud.region": "eu-1"}
	cfg.Finish(component.Env{})
	for _, host := range []string{"host-1", ""} {
		o, err := New(cfg, component.Settings{Name: "otlp"})
		if err != nil {
			t.Fatal(err)
		}
		o.host, o.wire = host, newWireEncoder(host, cfg.Resource)
		all := wireEntries()
		for _, entries := range [][]record.Entry{all, all[:3], all[3:], all[1:2], nil} {
			got := o.wire.encode(entries)
			var dec collpb.ExportLogsServiceRequest
			if err := proto.Unmarshal(got, &dec); err != nil {
				t.Fatalf("host %q, %d entries: the direct encoding does not decode: %v", host, len(entries), err)
			}
			want := o.message(entries)
			sortBodies(&dec)
			sortBodies(want)
			if !proto.Equal(&dec, want) {
				for i := range min(len(dec.ResourceLogs), len(want.ResourceLogs)) {
					if !proto.Equal(dec.ResourceLogs[i], want.ResourceLogs[i]) {
						t.Errorf("resource %d:\n got: %v\nwant: %v", i, dec.ResourceLogs[i], want.ResourceLogs[i])
						break
					}
				}
				t.Fatalf("host %q, %d entries: direct encoding differs (%d resources, want %d)", host, len(entries), len(dec.ResourceLogs), len(want.ResourceLogs))
			}
			if len(entries) > 0 && dec.ResourceLogs[0].ScopeLogs[0].LogRecords[0].GetBody() == nil {
				t.Fatal("no body")
			}
		}
	}
}

// sortBodies orders the members of map bodies by key (otel.JSONBody takes
// them from a Go map, in no fixed order).
func sortBodies(req *collpb.ExportLogsServiceRequest) {
	var walk func(v *commonpb.AnyValue)
	walk = func(v *commonpb.AnyValue) {
		if kv := v.GetKvlistValue(); kv != nil {
			slices.SortFunc(kv.Values, func(a, b *commonpb.KeyValue) int { return strings.Compare(a.Key, b.Key) })
			for _, m := range kv.Values {
				walk(m.Value)
			}
		}
		for _, e := range v.GetArrayValue().GetValues() {
			walk(e)
		}
	}
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				walk(lr.Body)
			}
		}
	}
}

// unixNano reads the agent's times without time.Parse and agrees with it
// on everything else.
func TestUnixNano(t *testing.T) {
	for _, s := range []string{
		"2026-12-07T05:12:09Z", "2026-12-07T05:12:09.1Z", "2026-12-07T05:12:09.123456789Z", "2000-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-07T24:00:00Z", "2026-12-07T05:60:00Z",
		"2026-12-07T05:12:60Z", "2026-12-07T05:12:09.Z", "2026-12-07T05:12:09.1234567890Z", "2026-12-07T05:12:09+02:00",
		"2026-12-07 05:12:09Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.9Z", "2261-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
		"", "Z", "2026-1a-07T05:12:09Z", "2026-12-07T05:12:09.12a4Z",
	} {
		want := uint64(0)
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			want = uint64(tm.UnixNano())
		}
		if got := unixNano(s); got != want {
			t.Errorf("unixNano(%q) = %d, time.Parse says %d", s, got, want)
		}
	}
}

// BenchmarkEncode: one request of 1000 entries, direct against the structs.
//
//	go test -run '^$' -bench Encode ./internal/output/otlp/
func BenchmarkEncode(b *testing.B) {
	cfg := Factory{}.NewConfig().(*Config)
	cfg.Finish(component.Env{})
	o, err := New(cfg, component.Settings{Name: "otlp"})
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]record.Entry, 1000)
	for i := range entries {
		entries[i] = record.Entry{ID: fmt.Sprintf("0193a5b2-7c4e-7d2a-9f1e-%012d", i), ReceivedAt: "2026-12-07T05:12:09.123456789Z",
			Timestamp: "2026-12-07T05:12:09.123Z", EntryType: 1, LogLevel: 6, Source: fmt.Sprint("app-", i%8), PayloadType: "generic",
			Payload: string(make([]byte, 200)), Metadata: map[string]string{"region": "eu", "host": "web-1", "request_id": "f3a1c2"}}
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o.wire.encode(entries)
		}
	})
	b.Run("structs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(o.message(entries)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
