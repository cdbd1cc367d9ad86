package syslog

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/input/entrybuild"
)

// record is what the builder writes for the fields, as JSON members
// without the id (which differs per record).
func recordOf(t *testing.T, f *entrybuild.Fields) map[string]any {
	t.Helper()
	b := entrybuild.New("in", 1<<20, nil)
	b.Received(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC))
	if _, err := b.Add(f); err != nil {
		t.Fatalf("refused: %v", err)
	}
	var recs [][]byte
	if err := b.Append(t.Context(), sinkFunc(func(r [][]byte) { recs = append(recs, r...) })); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(recs[0], &m); err != nil {
		t.Fatalf("%s: %v", recs[0], err)
	}
	delete(m, "id")
	return m
}

type sinkFunc func([][]byte)

func (s sinkFunc) Append(_ context.Context, recs [][]byte) error {
	cp := make([][]byte, len(recs))
	for i, r := range recs {
		cp[i] = append([]byte(nil), r...)
	}
	s(cp)
	return nil
}
func (sinkFunc) Sync(context.Context) error { return nil }

// agrees checks that when the fast path takes raw, go-syslog parses it
// without an error and the two make the same record; it reports whether
// the fast path took it.
func agrees(t *testing.T, c *Config, raw string) bool {
	t.Helper()
	p := newParser(c)
	in := []byte(raw)
	fields, parsed := p.parse(in, "127.0.0.1:514")
	took := p.fast5424(trimTrailer(in), "127.0.0.1:514")
	if !took {
		return false
	}
	fast := recordOf(t, fields)
	lib := newParser(c)
	lf, lparsed := lib.parseLib(trimTrailer([]byte(raw)), "127.0.0.1:514")
	if !parsed || !lparsed {
		t.Fatalf("%q: the fast path took it, go-syslog says parsed=%v (%v)", raw, lparsed, lf.Metadata)
	}
	if slow := recordOf(t, lf); !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nfast path %v\ngo-syslog %v", raw, fast, slow)
	}
	return true
}

func trimTrailer(raw []byte) []byte {
	for len(raw) > 0 && (raw[len(raw)-1] == '\n' || raw[len(raw)-1] == '\r' || raw[len(raw)-1] == 0) {
		raw = raw[:len(raw)-1]
	}
	return raw
}

func fastConfig(t testing.TB, source string) *Config {
	c := defaults()
	c.Address = "udp://127.0.0.1:1"
	c.Source = source
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFastPathAgreesWithGoSyslog: the messages the fast path reads make
// exactly the records go-syslog's parse makes, and the ones it refuses
// (go-syslog's alone) still become entries.
func TestFastPathAgreesWithGoSyslog(t *testing.T) {
	c := fastConfig(t, "")
	for _, tc := range []struct {
		raw  string
		fast bool
	}{
		{benchMsg, true},
		{"<134>1 2026-12-07T03:20:00.123456Z bench-host app 1234 ID47 - request 1 served\n", true},
		{"<0>1 - - - - - -", true},
		{"<191>1 2026-12-07T03:20:00+02:00 h a p m - msg", true},
		{"<13>1 2026-12-07T03:20:00.5-11:30 h - - - - msg", true},
		{"<13>1 2024-02-29T23:59:59.000001Z - a - - [b@1][a@1 z=\"1\" y=\"\" x=\"3\"] msg", true},
		{"<13>1 2024-02-29T23:59:59.10Z - a - - [only@1] ", true},
		{"<13>1 2024-02-29T23:59:59.10Z - a - - [only@1]", true},
		{"<13>1 - h a p m - ünïcödé \xff\x00 \"quoted\"", true},
		{"<13>1 - h a p m - \xef\xbb\xbfwith a BOM", true},
		// Refused: go-syslog's to read.
		{"<13>1 2025-02-29T00:00:00Z h a p m - not a leap year", false},
		{"<13>1 2025-01-01T00:00:00.1234567Z h a p m - seven digits", false},
		{"<13>1 0001-01-01T00:00:00Z h a p m - year 1", false},
		{"<13>2 - h a p m - version 2", false},
		{"<013>1 - h a p m - leading zero", false},
		{"<192>1 - h a p m - pri too big", false},
		{"<13>1 - h a p m [a@1 k=\"esc\\\"aped\"] msg", false},
		{"<13>1 - h a p m [a@1 k=\"ü\"] msg", false},
		{"<13>1 - h a p m [a@1 k=\"1\"][a@1 k=\"2\"] repeated id", false},
		{"<13>1 - h a p m [a@1 k=\"1\" k=\"2\"] repeated param", false},
		{"<13>1 - h " + strings.Repeat("a", 49) + " p m - long app-name", false},
		{"<13>Jan  2 03:04:05 host tag[1]: rfc 3164", false},
		{"plain text", false},
		{"<13>1 - h a p m -x", false},
	} {
		if got := agrees(t, c, tc.raw); got != tc.fast {
			t.Errorf("%q: fast path took it: %v, want %v", tc.raw, got, tc.fast)
		}
		// Every message, fast or not, is one entry.
		p := newParser(c)
		f, _ := p.parse([]byte(tc.raw), "")
		recordOf(t, f)
	}
	// A configured source wins in both.
	if !agrees(t, fastConfig(t, "fixed"), benchMsg) {
		t.Fatal("not taken")
	}
}

func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		benchMsg,
		"<0>1 - - - - - -",
		"<191>1 2026-12-07T03:20:00+02:00 h a p m - msg",
		"<13>1 2024-02-29T23:59:59.10Z - a - - [b@1][a@1 z=\"1\" y=\"\" x=\"3\"] msg",
		"<13>1 - h a p m [a@1 k=\"1\" k=\"2\"] repeated param",
	} {
		f.Add(s)
	}
	c := fastConfig(f, "")
	f.Fuzz(func(t *testing.T, raw string) { agrees(t, c, raw) })
}
