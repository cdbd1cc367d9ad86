package record_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/record"
)

func written(t testing.TB, line, input string) []byte {
	var d protocol.Decoder
	msg, perr := d.Decode([]byte(line))
	if perr != nil {
		t.Fatal(perr)
	}
	s := protocol.Stamp{Input: input}
	s.Set(time.Now())
	return protocol.AppendRecordStamp(nil, &msg.Entries[0], &s)
}

// TestReadHeadAgreesWithParse: the shortcut reads what Parse reads, from
// what the Agent API writes (escapes in source and input included) and
// from records of other shapes.
func TestReadHeadAgreesWithParse(t *testing.T) {
	recs := [][]byte{
		written(t, `{"payload":"p","entryType":5,"source":"a\\b \"c\" é","logLevel":2,"metadata":{"k":"v"}}`, `api "x"`),
		written(t, `{"payload":"p","entryType":1,"source":"web","logLevel":8}`, "agent_api"),
		[]byte(`{"receivedAt":"x","source":"s","metadata":{"a":"b"},"id":"i-1","logLevel":3,"entryType":2}`),
		[]byte(` { "id" : "i-2" , "entryType" : 4 , "logLevel" : 6 , "source" : "s" } `),
		[]byte(`{"id":"i-3","source":"only"}`),
	}
	for _, rec := range recs {
		e, err := record.Parse(rec)
		if err != nil {
			t.Fatal(err)
		}
		h, err := record.ReadHead(rec)
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		if want := (record.Head{ID: e.ID, EntryType: e.EntryType, LogLevel: e.LogLevel, Source: e.Source}); h != want {
			t.Errorf("%s:\nReadHead %+v\nParse    %+v", rec, h, want)
		}
	}
	for _, bad := range []string{``, `{"id":`, `[1]`, `{"source":"no id"}`, `{"id":"x","entryType":1.5}`} {
		if h, err := record.ReadHead([]byte(bad)); err == nil {
			t.Errorf("%q read as %+v", bad, h)
		}
	}
}

// FuzzReadHead: for any source and input name the Agent API accepts,
// ReadHead reads what Parse reads.
func FuzzReadHead(f *testing.F) {
	f.Add(`a\b "c"`, "in", 5, 2)
	f.Add("é\u0000", `x"y`, 1, 8)
	f.Fuzz(func(t *testing.T, source, input string, entryType, level int) {
		line, _ := json.Marshal(map[string]any{"payload": "p", "source": source, "entryType": entryType, "logLevel": level})
		var d protocol.Decoder
		msg, perr := d.Decode(line)
		if perr != nil {
			return // not an entry the agent accepts
		}
		s := protocol.Stamp{Input: input}
		s.Set(time.Now())
		rec := protocol.AppendRecordStamp(nil, &msg.Entries[0], &s)
		e, err := record.Parse(rec)
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		h, err := record.ReadHead(rec)
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		if want := (record.Head{ID: e.ID, EntryType: e.EntryType, LogLevel: e.LogLevel, Source: e.Source}); h != want {
			t.Fatalf("%s:\nReadHead %+v\nParse    %+v", rec, h, want)
		}
	})
}

func BenchmarkReadHead(b *testing.B) {
	rec := written(b, `{"payload":"a line of about the usual length for a log entry, with some words in it and a number 12345","entryType":1,"source":"web-frontend","logLevel":6,"metadata":{"host":"h1","region":"eu"}}`, "agent_api")
	b.Run("ReadHead", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			record.ReadHead(rec)
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			record.Parse(rec)
		}
	})
}
