package protocol

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A ~300-byte entry as in the workload.
var benchLine = []byte(`{"version":"1.0","payload":"GET /api/v1/users/42 200 12.3ms user-agent=Mozilla/5.0 (X11; Linux x86_64) request_id=9f1c2a7e-5b4d-4c1e-8f3a-2d6b7e9a0c11","entryType":1,"source":"api-gateway","logLevel":7,"timestamp":"2026-11-25T10:30:00.123Z","payloadType":"generic","metadata":{"service":"gateway","env":"prod"}}`)

func BenchmarkDecodeEntry(b *testing.B) {
	var d Decoder
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBatch100(b *testing.B) {
	entries := strings.Repeat(string(benchLine)+",", 99) + string(benchLine)
	line := []byte(`{"version":"1.0","entries":[` + entries + `]}`)
	var d Decoder
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if m, err := d.Decode(line); err != nil || len(m.Entries) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndNormalise(b *testing.B) {
	var d Decoder
	var rec []byte
	stamp := NewStamp(time.Now())
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := d.Decode(benchLine)
		if err != nil {
			b.Fatal(err)
		}
		rec = AppendRecordStamp(rec[:0], &m.Entries[0], stamp)
	}
	_ = fmt.Sprint(len(rec))
}

func BenchmarkAppendRecord(b *testing.B) {
	var d Decoder
	m, _ := d.Decode(benchLine)
	e := m.Entries[0]
	var rec []byte
	stamp := NewStamp(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		rec = AppendRecordStamp(rec[:0], &e, stamp)
	}
}

// A stack trace: a payload with escaped newlines, tabs and quotes, as many
// real entries have.
var escapedLine = []byte(`{"version":"1.0","payload":"java.lang.IllegalStateException: \"order 42\" not found\n\tat com.example.Orders.find(Orders.java:118)\n\tat com.example.Api.get(Api.java:57)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)","entryType":1,"source":"orders","logLevel":3,"timestamp":"2026-11-25T10:30:00.123Z","metadata":{"thread":"http-nio-8080-exec-7"}}`)

func BenchmarkDecodeEscaped(b *testing.B) {
	var d Decoder
	b.SetBytes(int64(len(escapedLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(escapedLine); err != nil {
			b.Fatal(err)
		}
	}
}
