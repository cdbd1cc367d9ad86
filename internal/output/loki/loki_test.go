package loki_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/loki"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
)

// fakeLoki is a push endpoint that refuses, as Loki does, an entry older
// than the last one of its stream.
type fakeLoki struct {
	mu      sync.Mutex
	streams map[string][]string // labels → ids, in arrival order
	last    map[string]int64
	lines   map[string]string // id → line
	meta    map[string]map[string]string
	tenant  []string
	fail    int // answer 429 to this many requests first
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tenant = append(f.tenant, r.Header.Get("X-Scope-OrgID"))
	if f.fail > 0 {
		f.fail--
		w.Header().Set("Retry-After", "0")
		http.Error(w, "rate limited", 429)
		return
	}
	if r.URL.Path != loki.PushPath {
		http.Error(w, "not found", 404)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		body, _ = gzip.NewReader(r.Body)
	}
	var push struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]json.RawMessage
		} `json:"streams"`
	}
	if err := json.NewDecoder(body).Decode(&push); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	for _, s := range push.Streams {
		keys := make([]string, 0, len(s.Stream))
		for k, v := range s.Stream {
			keys = append(keys, k+"="+v)
		}
		slices.Sort(keys)
		key := strings.Join(keys, ",")
		for _, v := range s.Values {
			var tsText, line string
			var meta map[string]string
			json.Unmarshal(v[0], &tsText)
			json.Unmarshal(v[1], &line)
			json.Unmarshal(v[2], &meta)
			ts, _ := strconv.ParseInt(tsText, 10, 64)
			if ts < f.last[key] {
				http.Error(w, "entry out of order for stream "+key, 400)
				return
			}
			f.last[key] = ts
			f.streams[key] = append(f.streams[key], meta["id"])
			f.lines[meta["id"]] = line
			f.meta[meta["id"]] = meta
		}
	}
	w.WriteHeader(204)
}

func newFake() *fakeLoki {
	return &fakeLoki{streams: map[string][]string{}, last: map[string]int64{}, lines: map[string]string{}, meta: map[string]map[string]string{}}
}

func newOutput(t *testing.T, url string, edit func(*loki.Config)) *loki.Output {
	t.Helper()
	cfg := loki.Factory{}.NewConfig().(*loki.Config)
	cfg.Endpoint = url
	cfg.Retry = remote.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := loki.New(cfg, component.Settings{Name: "loki"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStreamsAndOrder: entries are grouped by their labels, sorted by time
// within a stream (they arrive out of order), the payload is the line and
// the other metadata is structured metadata; a 429 is retried.
func TestStreamsAndOrder(t *testing.T) {
	f := newFake()
	f.fail = 1
	srv := httptest.NewServer(f)
	defer srv.Close()
	out := newOutput(t, srv.URL, func(c *loki.Config) {
		c.Labels = []string{"source", "level", "metadata.k8s.pod"}
		c.TenantID = "team-a"
	})
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var recs [][]byte
	for i := 0; i < 30; i++ {
		ts := base.Add(time.Duration(30-i) * time.Second).Format(time.RFC3339Nano) // newest first
		recs = append(recs, outputtest.Record(t, outputtest.Entry{
			Payload: "line " + strconv.Itoa(i), Source: []string{"web", "api"}[i%2], Level: 4 + (i/2)%2,
			Metadata: map[string]string{"k8s.pod": "pod-1", "user": "ana"}, Timestamp: ts,
		}))
	}
	outputtest.Run(t, out, recs, 30, 10*time.Second)
	if len(f.streams) != 4 {
		t.Errorf("streams %v, want source × level = 4", slices.Collect(func(y func(string) bool) {
			for k := range f.streams {
				if !y(k) {
					return
				}
			}
		}))
	}
	if _, ok := f.streams["k8s_pod=pod-1,level=error,source=web"]; !ok {
		t.Errorf("no stream {source=web, level=error, k8s_pod=pod-1}")
	}
	ids := outputtest.IDs(t, recs)
	for i, id := range ids {
		if f.lines[id] != "line "+strconv.Itoa(i) {
			t.Fatalf("entry %d: line %q", i, f.lines[id])
		}
		if m := f.meta[id]; m["user"] != "ana" || m["k8s.pod"] != "" {
			t.Fatalf("entry %d: structured metadata %v, want user (and not the label)", i, m)
		}
	}
	if f.tenant[len(f.tenant)-1] != "team-a" {
		t.Errorf("X-Scope-OrgID %q", f.tenant)
	}
}

// TestValidate: more than 15 labels, unknown fields and clashing names
// are refused.
func TestValidate(t *testing.T) {
	cfg := loki.Factory{}.NewConfig().(*loki.Config)
	cfg.Labels = []string{"source", "host", "metadata.a.b", "metadata.a_b"}
	for i := 0; i < 13; i++ {
		cfg.Labels = append(cfg.Labels, "metadata.k"+strconv.Itoa(i))
	}
	err := cfg.Validate()
	for _, want := range []string{"labels: 17 labels", "labels[1]", "labels[3]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want %s", err, want)
		}
	}
}
