package logflux

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/logflux/agent/internal/ingestsim"
)

const testAPIKey = "eu-lf_forwardertest0123456789"

// newSim serves a simulator with the fixed key on an httptest server.
func newSim(t testing.TB, opts ingestsim.Options) (*ingestsim.Server, *httptest.Server) {
	t.Helper()
	opts.PrivateKey = testPrivateKey(t)
	if opts.Limits.RequestsPerMinute == 0 {
		opts.Limits.RequestsPerMinute = -1
	}
	s, err := ingestsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Shutdown(t.Context())
	})
	return s, ts
}

// logBuffer collects log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count returns how many lines contain s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newOutput makes an output against ts (through discovery) logging to the
// returned buffer.
func newOutput(t testing.TB, ts *httptest.Server, cfg Config) (*Output, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.APIKey == "" && cfg.APIKeyFile == "" {
		cfg.APIKey = testAPIKey
	}
	if cfg.DiscoveryURL == "" && cfg.Endpoint == "" {
		cfg.DiscoveryURL = ts.URL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = ts.Client()
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(t.Context()) })
	return o, logs
}

// makeRecords returns n agent entries of every type; ids are prefix-NNNNN.
func makeRecords(prefix string, n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		e := map[string]any{
			"id":          fmt.Sprintf("%s-%05d", prefix, i),
			"receivedAt":  "2026-11-25T09:30:00.123456789Z",
			"version":     "1.0",
			"timestamp":   fmt.Sprintf("2026-11-25T09:29:%02d.%03dZ", i%60, i%1000),
			"entryType":   1,
			"logLevel":    i%8 + 1,
			"source":      "svc-" + string(rune('a'+i%5)),
			"payloadType": "generic",
			"payload":     fmt.Sprintf("entry %d of %s: %s", i, prefix, strings.Repeat("lorem ipsum ", i%20)),
		}
		switch i % 10 {
		case 1:
			e["entryType"], e["payloadType"] = 2, "generic_json"
			e["payload"] = fmt.Sprintf(`{"name":"requests","value":%d,"kind":"counter","host":"h%d"}`, i, i%3)
		case 2:
			e["entryType"] = 3
			e["payload"] = fmt.Sprintf("span %d", i)
		case 3:
			e["entryType"] = 4
		case 4:
			e["entryType"], e["payloadType"] = 5, "generic_json"
			e["payload"] = fmt.Sprintf(`{"action":"update","actor":"user%d","resource":"doc"}`, i)
		case 5:
			md := map[string]string{}
			for k := range 60 {
				md[fmt.Sprintf("k%02d", k)] = strings.Repeat("v", k*5)
			}
			e["metadata"] = md
		case 6:
			e["metadata"] = map[string]string{"env": "prod", "region": "eu"}
		}
		recs[i], _ = json.Marshal(e)
	}
	return recs
}

// accepted returns the simulator's accepted payloads by meta.id.
func accepted(t testing.TB, s *ingestsim.Server) map[string][]ingestsim.Record {
	t.Helper()
	byID := map[string][]ingestsim.Record{}
	for _, r := range s.Accepted() {
		var p struct {
			Meta struct {
				ID string `json:"id"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(r.Payload, &p); err != nil || p.Meta.ID == "" {
			t.Fatalf("accepted payload without meta.id: %s", r.Payload)
		}
		byID[p.Meta.ID] = append(byID[p.Meta.ID], r)
	}
	return byID
}

// checkDelivered compares every record with what the simulator decrypted:
// each must have arrived, as its mapping, with the matching entry type
// header; skip lists ids not expected. It returns the number of entries
// that arrived more than once (counting each extra copy).
func checkDelivered(t testing.TB, s *ingestsim.Server, recs [][]byte, skip map[string]bool) int {
	t.Helper()
	got := accepted(t, s)
	dups, want := 0, 0
	for _, rec := range recs {
		m, err := mapRecord(rec, fixedNow)
		if err != nil {
			t.Fatalf("test record does not map: %v", err)
		}
		if skip[m.key] {
			continue
		}
		want++
		rs := got[m.key]
		if len(rs) == 0 {
			t.Errorf("entry %s never arrived", m.key)
			continue
		}
		dups += len(rs) - 1
		for _, r := range rs {
			if !bytes.Equal(r.Payload, m.json) || r.EntryType != m.entryType || r.Timestamp != m.timestamp {
				t.Errorf("entry %s arrived as %s (type %d, ts %s);\nwant %s (type %d, ts %s)", m.key, r.Payload, r.EntryType, r.Timestamp, m.json, m.entryType, m.timestamp)
			}
		}
		delete(got, m.key)
	}
	for id := range got {
		t.Errorf("entry %s arrived but was never sent (or was refused)", id)
	}
	if t.Failed() {
		t.Logf("%d entries expected", want)
	}
	return dups
}
