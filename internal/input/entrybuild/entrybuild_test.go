package entrybuild

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logflux/agent/internal/input/inputtest"
	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/redact"
)

func build(t *testing.T, f *Fields) (string, bool) {
	t.Helper()
	b := New("in", 1<<20, nil)
	sink := inputtest.NewSink(t, 64<<20)
	cut, err := b.Add(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	es := sink.Entries(t)
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	e := es[0]
	if f.Time.IsZero() && e.Timestamp == e.ReceivedAt {
		e.Timestamp = "" // the time of receipt
	}
	if e.Input != "in" || e.EntryType != 1 {
		t.Fatalf("entry %+v", e)
	}
	return e.Payload + "|" + e.Source + "|" + strconv.Itoa(e.LogLevel) + "|" + e.PayloadType + "|" + e.Timestamp + "|" + e.Metadata[TruncatedKey] + "|" + e.Metadata["k"], cut
}

func TestFields(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		f    Fields
		want string
		cut  bool
	}{
		{"plain", Fields{Payload: "hi \"there\"\n", Source: "s", LogLevel: 3, PayloadType: "syslog", Time: ts, Metadata: []KV{{"k", "v"}}},
			"hi \"there\"\n|s|3|syslog|2025-01-02T02:04:05.0000006Z||v", false},
		{"defaults", Fields{}, "-|unknown|7|generic|||", false},
		{"invalid UTF-8", Fields{Payload: "a\xffb", Source: "s\xfe", LogLevel: 9},
			"a\ufffdb|s\ufffd|7|generic|||", false},
		{"repeated key keeps the first", Fields{Payload: "p", Source: "s", Metadata: []KV{{"k", "1"}, {"k", "2"}, {"", "x"}}},
			"p|s|7|generic|||1", false},
		{"long value cut", Fields{Payload: "p", Source: strings.Repeat("é", 300), Metadata: []KV{{"k", strings.Repeat("v", 2000)}}},
			"p|" + strings.Repeat("é", 256) + "|7|generic|||" + strings.Repeat("v", 1024), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := build(t, &tc.f)
			if got != tc.want || cut != tc.cut {
				t.Errorf("got %q (cut %v)\nwant %q (cut %v)", got, cut, tc.want, tc.cut)
			}
		})
	}
}

// A payload over the contract's 1 MiB is cut at a character boundary and
// marked with its original size; one that grows past it only when its
// invalid bytes become U+FFFD is cut too.
func TestLargePayloadTruncatedAndMarked(t *testing.T) {
	big := strings.Repeat("ü", protocol.MaxPayloadBytes) // 2 MiB
	got, cut := build(t, &Fields{Payload: big, Source: "s"})
	parts := strings.Split(got, "|")
	if !cut || parts[5] != strconv.Itoa(len(big)) || len(parts[0]) > protocol.MaxPayloadBytes || len(parts[0]) < protocol.MaxPayloadBytes-2 || !utf8.ValidString(parts[0]) {
		t.Fatalf("cut %v, marker %q, payload %d bytes", cut, parts[5], len(parts[0]))
	}
	bad := strings.Repeat("\xff", protocol.MaxPayloadBytes/2)
	got, cut = build(t, &Fields{Payload: bad, Source: "s"})
	parts = strings.Split(got, "|")
	if !cut || len(parts[0]) > protocol.MaxPayloadBytes || parts[5] != strconv.Itoa(len(bad)) {
		t.Fatalf("invalid bytes: cut %v, %d bytes, marker %q", cut, len(parts[0]), parts[5])
	}
}

func TestAppendWaitingRetriesUntilRoom(t *testing.T) {
	sink := inputtest.NewSink(t, 64<<20)
	sink.Refuse.Store(true)
	b := New("in", 1<<20, nil)
	for i := range 3 {
		if _, err := b.Add(&Fields{Payload: strconv.Itoa(i), Source: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	paused := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- b.AppendWaiting(context.Background(), sink, func() { paused <- struct{}{} }) }()
	<-paused
	<-paused
	sink.Refuse.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if es := sink.Entries(t); len(es) != 3 || es[2].Payload != "2" {
		t.Fatalf("entries %+v", es)
	}
	if b.Len() != 0 {
		t.Fatal("records kept after a successful append")
	}

	// A context that ends gives up, keeping the records.
	b.Add(&Fields{Payload: "x", Source: "s"})
	sink.Refuse.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := b.AppendWaiting(ctx, sink, nil); err == nil || b.Len() != 1 {
		t.Fatalf("err %v, %d kept", err, b.Len())
	}
}

func BenchmarkAdd(b *testing.B) {
	bl := New("in", 1<<20, nil)
	f := Fields{Payload: "an application event log entry with some words in it", Source: "app", LogLevel: 6, PayloadType: "syslog",
		Time: time.Now(), Metadata: []KV{{"syslog.facility", "local4"}, {"syslog.hostname", "mymach.it"}, {"syslog.appname", "app"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bl.Add(&f); err != nil {
			b.Fatal(err)
		}
		if bl.Full() {
			bl.Reset()
		}
	}
}

// TestRedactedBeforeWritten: the agent's redaction rules change (or drop)
// an entry before its record is written, for every input built on this.
func TestRedactedBeforeWritten(t *testing.T) {
	live := redact.NewLive()
	r, err := live.Compile(&redact.Config{Rules: []redact.Rule{{Name: "never", Pattern: "NEVER-STORE", Action: "drop_entry"}}})
	if err != nil {
		t.Fatal(err)
	}
	live.Set(r)
	b := New("in", 1<<20, live)
	sink := inputtest.NewSink(t, 64<<20)
	for _, p := range []string{"mail ana@example.com now", "NEVER-STORE this", "plain"} {
		if _, err := b.Add(&Fields{Payload: p, Source: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Append(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	es := sink.Entries(t)
	if len(es) != 2 || es[0].Payload != "mail [REDACTED:email] now" || es[0].Metadata["redacted"] != "email" || es[1].Payload != "plain" {
		t.Fatalf("written %+v", es)
	}
}
