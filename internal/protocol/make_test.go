package protocol

import (
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/record"
)

func TestMakerWritesWhatTheDecoderWould(t *testing.T) {
	var m Maker
	f := Fields{Payload: []byte("a \"quoted\"\tline\x00 é"), Source: []byte("app.log"), EntryType: 1, LogLevel: 4,
		Timestamp: []byte("2025-01-02T03:04:05.5+01:00"),
		Metadata:  []KV{{Key: []byte("file.path"), Value: []byte("/var/log/app.log")}}}
	e, replaced, err := m.Make(&f)
	if err != nil || replaced != 0 {
		t.Fatalf("Make: %v, %d replaced", err, replaced)
	}
	rec := AppendRecordStamp(nil, &e, NewStamp(time.Now()))
	got, perr := record.Parse(rec)
	if perr != nil {
		t.Fatalf("record %s: %v", rec, perr)
	}
	if got.Payload != string(f.Payload) || got.Timestamp != "2025-01-02T02:04:05.5Z" || got.LogLevel != 4 || got.Metadata["file.path"] != "/var/log/app.log" {
		t.Errorf("record %+v", got)
	}
}

func TestMakerRepairsUTF8AndRefusesBrokenRules(t *testing.T) {
	var m Maker
	e, replaced, err := m.Make(&Fields{Payload: []byte("ok\xff\xfe"), Source: []byte("s\xff"), EntryType: 1, LogLevel: 7})
	if err != nil || replaced != 3 || string(e.Payload) != "ok\uFFFD\uFFFD" || string(e.Source) != "s\uFFFD" {
		t.Fatalf("got %q %q, %d replaced, %v", e.Payload, e.Source, replaced, err)
	}
	_, _, err = m.Make(&Fields{Payload: nil, Source: []byte(strings.Repeat("s", 300)), EntryType: 9, LogLevel: 0,
		PayloadType: []byte("no spaces"), Metadata: []KV{{Key: []byte("k"), Value: []byte(strings.Repeat("v", 1025))}, {Key: []byte("k"), Value: []byte("x")}}})
	if err == nil || err.Code != CodeInvalidEntry {
		t.Fatalf("err = %v", err)
	}
	fields := map[string]bool{}
	for _, fe := range err.Errors {
		fields[fe.Field] = true
	}
	for _, want := range []string{"payload", "source", "entryType", "logLevel", "payloadType", "metadata.k"} {
		if !fields[want] {
			t.Errorf("no error for %s in %+v", want, err.Errors)
		}
	}
	// A timestamp that cannot be read leaves the time of receipt.
	e, _, err = m.Make(&Fields{Payload: []byte("x"), Source: []byte("s"), EntryType: 1, LogLevel: 7, Timestamp: []byte("yesterday")})
	if err != nil || e.HasTimestamp {
		t.Errorf("bad timestamp: %v %v", err, e.HasTimestamp)
	}
}

// TestMakerEscapesOnlyWhatNeedsIt: plain ASCII strings are copied as they
// are, and every string with a quote, a backslash, a control character or
// a byte from 0x80 (valid or not) is still written as correct JSON,
// whichever of payload, source and metadata holds it.
func TestMakerEscapesOnlyWhatNeedsIt(t *testing.T) {
	odd := []string{"plain text 123", `say "hi"`, `C:\dir`, "tab\there", "ctl\x01", "é ü", "bad\xff", strings.Repeat("y", 40) + "\n"}
	for i, s := range odd {
		want := strings.ToValidUTF8(s, "\uFFFD")
		for _, where := range []string{"payload", "source", "key", "value"} {
			f := Fields{Payload: []byte("p"), Source: []byte("s"), EntryType: 1, LogLevel: 7,
				Metadata: []KV{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte("k2"), Value: []byte("plain")}}}
			switch where {
			case "payload":
				f.Payload = []byte(s)
			case "source":
				f.Source = []byte(s)
			case "key":
				f.Metadata[0].Key = []byte(s)
			case "value":
				f.Metadata[0].Value = []byte(s)
			}
			var m Maker
			e, _, err := m.Make(&f)
			if err != nil {
				t.Fatalf("%d %s: %v", i, where, err)
			}
			rec := AppendRecordStamp(nil, &e, NewStamp(time.Now()))
			got, perr := record.Parse(rec)
			if perr != nil {
				t.Fatalf("%d %s: record %s: %v", i, where, rec, perr)
			}
			var have string
			switch where {
			case "payload":
				have = got.Payload
			case "source":
				have = got.Source
			case "key":
				if got.Metadata[want] != "v" {
					t.Errorf("%d key: metadata %q", i, got.Metadata)
				}
				continue
			case "value":
				have = got.Metadata["k"]
			}
			if have != want || got.Metadata["k2"] != "plain" {
				t.Errorf("%d %s: got %q, want %q (record %s)", i, where, have, want, rec)
			}
		}
	}
}

// BenchmarkFileLine compares the two ways an input can make a record of a
// 200-byte line: Maker, and building a contract message for the Decoder
// (the recipe's way).
func BenchmarkFileLine(b *testing.B) {
	line := []byte(strings.Repeat("x", 150) + ` GET /index.html 200 "Mozilla/5.0" 0.003`)
	stamp := NewStamp(time.Now())
	maker := func(line []byte) func(b *testing.B) {
		return func(b *testing.B) {
			var m Maker
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				f := Fields{Payload: line, Source: []byte("app.log"), EntryType: 1, LogLevel: 7,
					Metadata: []KV{{Key: []byte("file.path"), Value: []byte("/var/log/app.log")}}}
				e, _, _ := m.Make(&f)
				out = AppendRecordStamp(out[:0], &e, stamp)
			}
		}
	}
	b.Run("maker", maker(line))
	// Nothing to escape (the benchmark file of bench/file-input.sh).
	b.Run("maker-plain", maker([]byte("000000042 "+strings.Repeat("x", 189))))
	b.Run("decoder", func(b *testing.B) {
		var d Decoder
		var msg, out []byte
		b.ReportAllocs()
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			msg = append(msg[:0], `{"payload":`...)
			msg = AppendString(msg, string(line))
			msg = append(msg, `,"entryType":1,"source":"app.log","logLevel":7,"metadata":{"file.path":"/var/log/app.log"}}`...)
			m, _ := d.Decode(msg)
			out = AppendRecordStamp(out[:0], &m.Entries[0], stamp)
		}
	})
}
