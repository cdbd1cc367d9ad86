package record_test

import (
	"testing"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/record"
)

// TestWriterAndReaderAgree: what the Agent API writes is what Parse reads,
// field for field, with the input's name.
func TestWriterAndReaderAgree(t *testing.T) {
	var d protocol.Decoder
	msg, perr := d.Decode([]byte(`{"version":"1.0","timestamp":"2026-01-02T03:04:05+01:00","payload":"tab\there \"q\"","entryType":5,"source":"a\\b","logLevel":2,"payloadType":"generic_json","metadata":{"k":"v","é":"ü"}}`))
	if perr != nil {
		t.Fatal(perr)
	}
	s := protocol.Stamp{Input: `api "x"`}
	s.Set(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	rec := protocol.AppendRecordStamp(nil, &msg.Entries[0], &s)
	e, err := record.Parse(rec)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec)
	}
	want := record.Entry{ID: e.ID, ReceivedAt: "2026-01-02T03:04:05.000000006Z", Input: `api "x"`, Version: "1.0",
		Timestamp: "2026-01-02T02:04:05Z", EntryType: 5, LogLevel: 2, Source: `a\b`, PayloadType: "generic_json",
		Payload: "tab\there \"q\"", Metadata: map[string]string{"k": "v", "é": "ü"}}
	if len(e.ID) != 36 || e.ID[14] != '7' {
		t.Errorf("id %q is not a UUID v7", e.ID)
	}
	if e.Input != want.Input || e.ReceivedAt != want.ReceivedAt || e.Timestamp != want.Timestamp || e.EntryType != 5 ||
		e.LogLevel != 2 || e.Source != want.Source || e.Payload != want.Payload || e.PayloadType != want.PayloadType ||
		len(e.Metadata) != 2 || e.Metadata["é"] != "ü" {
		t.Errorf("read back\n%+v\nwant\n%+v\nfrom %s", e, want, rec)
	}
	if _, err := record.Parse([]byte(`{"id":`)); err == nil {
		t.Error("a broken record was read")
	}
}
