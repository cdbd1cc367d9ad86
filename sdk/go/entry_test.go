package logflux

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTypedEntryHelpers(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []Entry{
		Metric("http.latency", 12.25, "route", "/login"),
		Metric("weird", math.NaN()),
		Trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "GET /", start, start.Add(1500*time.Microsecond)),
		Event("user.signup", "plan", "pro", "lonely"),
		Audit("delete", "alice", "invoice/42"),
	} {
		mustLog(t, c, e)
	}
	mustFlush(t, c)
	es := a.Entries()
	if len(es) != 5 {
		t.Fatalf("agent has %d entries", len(es))
	}
	want := []struct {
		typ, level int
		payload    map[string]any
		meta       map[string]string
	}{
		{2, 7, map[string]any{"name": "http.latency", "value": 12.25}, map[string]string{"route": "/login"}},
		{2, 7, map[string]any{"name": "weird", "value": "NaN"}, nil},
		{3, 7, map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "name": "GET /",
			"start_time": "2025-03-01T12:00:00Z", "end_time": "2025-03-01T12:00:00.0015Z", "duration_ms": 1.5}, nil},
		{4, 7, map[string]any{"event": "user.signup"}, map[string]string{"plan": "pro", "lonely": ""}},
		{5, 6, map[string]any{"action": "delete", "actor": "alice", "resource": "invoice/42", "outcome": "success"}, nil},
	}
	for i, w := range want {
		e := es[i]
		if e.EntryType != w.typ || e.LogLevel != w.level || e.PayloadType != "generic_json" {
			t.Errorf("entry %d: type %d level %d payloadType %q", i, e.EntryType, e.LogLevel, e.PayloadType)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
			t.Errorf("entry %d: payload is not JSON: %v", i, err)
		}
		if !jsonEqual(p, w.payload) {
			t.Errorf("entry %d: payload %v, want %v", i, p, w.payload)
		}
		if len(w.meta) != len(e.Metadata) {
			t.Errorf("entry %d: metadata %v, want %v", i, e.Metadata, w.meta)
		}
		for k, v := range w.meta {
			if e.Metadata[k] != v {
				t.Errorf("entry %d: metadata %v, want %v", i, e.Metadata, w.meta)
			}
		}
	}
	if es[2].Timestamp != "2025-03-01T12:00:00Z" {
		t.Errorf("trace timestamp %q, want the span's start", es[2].Timestamp)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestLevelAndTypeNumbering(t *testing.T) {
	levels := []Level{LevelEmergency, LevelAlert, LevelCritical, LevelError, LevelWarning, LevelNotice, LevelInfo, LevelDebug}
	names := "emergency alert critical error warning notice info debug"
	var got []string
	for i, l := range levels {
		if int(l) != i+1 {
			t.Errorf("%v = %d, want %d", l, l, i+1)
		}
		got = append(got, l.String())
	}
	if strings.Join(got, " ") != names {
		t.Errorf("level names %v", got)
	}
	for i, ty := range []EntryType{TypeLog, TypeMetric, TypeTrace, TypeEvent, TypeAudit} {
		if int(ty) != i+1 {
			t.Errorf("%v = %d, want %d", ty, ty, i+1)
		}
	}
}

func TestEncodedEntryIsExact(t *testing.T) {
	e := Entry{
		Payload: "p\t\"q\"\x01\xff\u2028", EntryType: TypeLog, Source: "s", Level: LevelError,
		Timestamp: time.Date(2025, 8, 31, 10, 30, 0, 0, time.UTC), PayloadType: "generic",
		Metadata: map[string]string{"b": "2", "a": "1"},
	}
	got := string(appendEntry(nil, &e))
	want := `{"payload":"p\t\"q\"\u0001\ufffd\u2028","entryType":1,"source":"s","logLevel":4,` +
		`"timestamp":"2025-08-31T10:30:00Z","payloadType":"generic","metadata":{"a":"1","b":"2"}}`
	if got != want {
		t.Errorf("appendEntry =\n%s\nwant\n%s", got, want)
	}
}

func TestEntryValidation(t *testing.T) {
	for _, e := range []Entry{
		{},
		{Payload: strings.Repeat("x", 1<<20+1)},
		{Payload: "x", EntryType: 6},
		{Payload: "x", Level: -1},
		{Payload: "x", Source: strings.Repeat("s", 257)},
		{Payload: "x", PayloadType: "no spaces"},
	} {
		if err := normalize(&e, "src"); err == nil {
			t.Errorf("normalize accepted %+v", e)
		}
	}
	ok := Entry{Payload: "x", Source: strings.Repeat("ś", 256), PayloadType: "a.b-c_d"}
	if err := normalize(&ok, "src"); err != nil {
		t.Errorf("normalize: %v", err)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\x00\x1f", "\xff\xfe", "é€𝄞", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %q for %q", b, s)
		}
		var got, want string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &want)
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json to %q", s, got, want)
		}
	})
}

func FuzzAppendEntry(f *testing.F) {
	f.Add("payload", "source", "key", "value", int64(0))
	f.Add("\xff", "\x00", "", "\u2028", int64(-1))
	f.Add("p", "s", "k", "v", int64(1_700_000_000_120_000_000))
	f.Add("p", "s", "k", "v", int64(-1_700_000_000_000_000_001))
	f.Fuzz(func(t *testing.T, payload, source, key, value string, ns int64) {
		e := Entry{Payload: payload, Source: source, Timestamp: time.Unix(0, ns), Metadata: map[string]string{key: value}}
		if normalize(&e, "src") != nil {
			return
		}
		b := appendEntry(nil, &e)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if want := time.Unix(0, ns).UTC().Format(time.RFC3339Nano); m["timestamp"] != want {
			t.Fatalf("timestamp %q, want %q", m["timestamp"], want)
		}
	})
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{
		Addr:          "http://nope",
		QueueBytes:    1000,
		BatchBytes:    -1,
		Connections:   99,
		FlushInterval: -time.Second,
		MinBackoff:    time.Second,
		MaxBackoff:    time.Millisecond,
		Fallback:      7,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"http://nope", "QueueBytes", "BatchBytes", "Connections", "FlushInterval", "MaxBackoff", "Fallback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %s:\n%v", want, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestDiscoveryOrder(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	eps, err := discover("", getenv)
	if err != nil || len(eps) != 2 || eps[0].String() != "unix:///tmp/logflux-agent.sock" || eps[1].String() != "unix:///var/run/logflux-agent/agent.sock" {
		t.Errorf("defaults = %v, %v", eps, err)
	}
	env[EnvAgentAddr] = "tcp://127.0.0.1:9999"
	if eps, err := discover("", getenv); err != nil || len(eps) != 1 || eps[0] != (endpoint{"tcp", "127.0.0.1:9999"}) {
		t.Errorf("from env = %v, %v", eps, err)
	}
	if eps, err := discover("unix:///run/x.sock", getenv); err != nil || len(eps) != 1 || eps[0] != (endpoint{"unix", "/run/x.sock"}) {
		t.Errorf("config over env = %v, %v", eps, err)
	}
	env[EnvAgentAddr] = "bogus"
	if _, err := discover("", getenv); err == nil || !strings.Contains(err.Error(), EnvAgentAddr) {
		t.Errorf("bad env address: %v", err)
	}
	for _, bad := range []string{"unix://relative.sock", "tcp://nohost", "127.0.0.1:80"} {
		if _, err := parseAddr(bad); err == nil {
			t.Errorf("parseAddr(%q) succeeded", bad)
		}
	}
}

func TestDiscoveryFromEnvironment(t *testing.T) {
	a := startAgent(t)
	t.Setenv(EnvAgentAddr, a.Addr())
	cfg := testConfig("")
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "found by env"})
	mustFlush(t, c)
	if len(a.Entries()) != 1 {
		t.Fatal("entry did not reach the agent named in the environment")
	}
}

func TestBackoffIsCappedWithJitter(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 80 * time.Millisecond}
	var seen []time.Duration
	for i := range 50 {
		d := b.next()
		ceil := 80 * time.Millisecond
		if i < 3 {
			ceil = 10 * time.Millisecond << i
		}
		if d < 10*time.Millisecond || d > ceil {
			t.Fatalf("delay %d = %v, want within [10ms, %v]", i, d, ceil)
		}
		seen = append(seen, d)
	}
	distinct := map[time.Duration]bool{}
	for _, d := range seen[5:] {
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("delays at the cap are not jittered: %v", seen[5:])
	}
	b.reset()
	if d := b.next(); d != 10*time.Millisecond {
		t.Errorf("after reset: %v, want the minimum", d)
	}
}
