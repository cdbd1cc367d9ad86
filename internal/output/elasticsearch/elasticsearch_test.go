package elasticsearch_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/elasticsearch"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
)

// cluster is a _bulk endpoint: it keeps documents by index and _id,
// answers 409 to a create of an id it has, and lets a test script the
// status of items by payload.
type cluster struct {
	mu       sync.Mutex
	docs     map[string]map[string]json.RawMessage // index → id → document
	creates  int
	itemFor  func(payload string, attempt int) int // status for an item; 0: index it
	attempts map[string]int
	down     bool
}

func newCluster() *cluster {
	return &cluster{docs: map[string]map[string]json.RawMessage{}, attempts: map[string]int{}}
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		http.Error(w, "unavailable", 503)
		return
	}
	if r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "bad request", 400)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		body, _ = gzip.NewReader(r.Body)
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 8<<20)
	var items []map[string]any
	errs := false
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if !sc.Scan() {
			http.Error(w, "action without document", 400)
			return
		}
		doc := append(json.RawMessage(nil), sc.Bytes()...)
		a, ok := action["create"]
		if !ok {
			http.Error(w, "only create is expected", 400)
			return
		}
		var d struct {
			Payload string `json:"payload"`
			TS      string `json:"@timestamp"`
		}
		json.Unmarshal(doc, &d)
		c.attempts[a.ID]++
		status := 201
		if c.itemFor != nil {
			if s := c.itemFor(d.Payload, c.attempts[a.ID]); s != 0 {
				status = s
			}
		}
		if status == 201 {
			if _, dup := c.docs[a.Index][a.ID]; dup {
				status = 409
			} else {
				if c.docs[a.Index] == nil {
					c.docs[a.Index] = map[string]json.RawMessage{}
				}
				c.docs[a.Index][a.ID] = doc
				c.creates++
			}
		}
		res := map[string]any{"_index": a.Index, "_id": a.ID, "status": status}
		if status >= 300 {
			errs = true
			res["error"] = map[string]any{"type": map[int]string{400: "mapper_parsing_exception", 409: "version_conflict_engine_exception", 429: "es_rejected_execution_exception"}[status], "reason": fmt.Sprintf("scripted %d", status)}
		}
		items = append(items, map[string]any{"create": res})
	}
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errs, "items": items})
}

func (c *cluster) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, docs := range c.docs {
		for id := range docs {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func newOutput(t testing.TB, endpoints []string, edit func(*elasticsearch.Config)) *elasticsearch.Output {
	t.Helper()
	cfg := elasticsearch.Factory{}.NewConfig().(*elasticsearch.Config)
	cfg.Endpoints = endpoints
	cfg.Retry = remote.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := elasticsearch.New(cfg, component.Settings{Name: "es"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestPerItemResults: items answered 429 are the only ones sent again,
// a mapping error is dead-lettered with its reason, 409 on create counts
// as delivered, and every other entry is indexed exactly once under its
// own id, in the index of its date.
func TestPerItemResults(t *testing.T) {
	c := newCluster()
	c.itemFor = func(payload string, attempt int) int {
		switch {
		case strings.HasSuffix(payload, "3") && attempt <= 2:
			return 429
		case payload == "entry 5":
			return 400
		}
		return 0
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	out := newOutput(t, []string{srv.URL}, nil)
	var recs [][]byte
	for i := 0; i < 50; i++ {
		recs = append(recs, outputtest.Record(t, outputtest.Entry{Payload: fmt.Sprintf("entry %d", i), Timestamp: "2026-03-04T05:06:07Z"}))
	}
	res := outputtest.Run(t, out, recs, 50, 10*time.Second)
	ids := outputtest.IDs(t, recs)
	want := sorted(append(slices.Clone(ids[:5]), ids[6:]...))
	if got := c.ids(); !slices.Equal(got, want) {
		t.Errorf("indexed %d documents, want 49", len(got))
	}
	if c.creates != 49 {
		t.Errorf("%d documents created, want 49 (no duplicate)", c.creates)
	}
	if _, ok := c.docs["logs-2026.03.04"]; !ok || len(c.docs) != 1 {
		t.Errorf("indexes %v, want logs-2026.03.04", keys(c.docs))
	}
	for id, n := range c.attempts {
		if n > 1 && !slices.Contains(retriedIDs(ids), id) {
			t.Errorf("entry %s was sent %d times though its item succeeded", id, n)
		}
	}
	if got := res.DeadLetters.IDs(t); !slices.Equal(got, ids[5:6]) || !strings.Contains(res.DeadLetters.Reasons[0], "mapper_parsing_exception") {
		t.Errorf("dead letters %v %v, want entry 5 with its mapping error", got, res.DeadLetters.Reasons)
	}
	if got := res.Dispatcher.Counters.Sent.Load(); got != 49 {
		t.Errorf("sent counter %d, want 49", got)
	}
}

// retriedIDs are the ids of entries whose payload ends in 3 (the ones the
// cluster answers 429 twice).
func retriedIDs(ids []string) []string {
	var out []string
	for i, id := range ids {
		if strings.HasSuffix(fmt.Sprint(i), "3") {
			out = append(out, id)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

// TestConflictIsDelivered: entries already indexed (an earlier run that
// crashed before its position moved) come back 409 and count as delivered.
func TestConflictIsDelivered(t *testing.T) {
	c := newCluster()
	srv := httptest.NewServer(c)
	defer srv.Close()
	recs := outputtest.Records(t, 20, "app")
	outputtest.Run(t, newOutput(t, []string{srv.URL}, nil), recs[:10], 10, 5*time.Second)
	res := outputtest.Run(t, newOutput(t, []string{srv.URL}, nil), recs, 20, 5*time.Second)
	if c.creates != 20 || len(res.DeadLetters.Records) != 0 || res.Dispatcher.Counters.Sent.Load() != 20 {
		t.Errorf("creates %d, dead letters %d, sent %d; want 20, 0, 20", c.creates, len(res.DeadLetters.Records), res.Dispatcher.Counters.Sent.Load())
	}
}

// TestEndpointDown: with one of two endpoints answering 503, everything
// goes to the other; with the cluster down for a while, nothing is lost.
func TestEndpointDown(t *testing.T) {
	good := newCluster()
	srvGood := httptest.NewServer(good)
	defer srvGood.Close()
	bad := newCluster()
	bad.down = true
	srvBad := httptest.NewServer(bad)
	defer srvBad.Close()
	out := newOutput(t, []string{srvBad.URL, srvGood.URL}, func(c *elasticsearch.Config) { c.Batch.MaxEntries = 10; c.Compression = "none" })
	recs := outputtest.Records(t, 100, "app")
	go func() {
		time.Sleep(100 * time.Millisecond)
		good.mu.Lock()
		good.down = false
		good.mu.Unlock()
	}()
	good.mu.Lock()
	good.down = true
	good.mu.Unlock()
	outputtest.Run(t, out, recs, 10, 20*time.Second)
	if got := good.ids(); !slices.Equal(got, sorted(outputtest.IDs(t, recs))) || good.creates != 100 {
		t.Errorf("indexed %d (%d creates), want all 100 once", len(got), good.creates)
	}
}

// TestDataStream: data_stream mode uses the stream's name and create.
func TestDataStream(t *testing.T) {
	c := newCluster()
	srv := httptest.NewServer(c)
	defer srv.Close()
	out := newOutput(t, []string{srv.URL}, func(cfg *elasticsearch.Config) { cfg.Mode, cfg.Index = "data_stream", "logs-app-default" })
	outputtest.Run(t, out, outputtest.Records(t, 5, "app"), 5, 5*time.Second)
	if len(c.docs["logs-app-default"]) != 5 {
		t.Errorf("documents %v", keys(c.docs))
	}
	for _, d := range c.docs["logs-app-default"] {
		if !bytes.HasPrefix(d, []byte(`{"@timestamp":"`)) {
			t.Errorf("document %s has no @timestamp first", d)
		}
	}
}

// TestValidate: every problem at once.
func TestValidate(t *testing.T) {
	cfg := elasticsearch.Factory{}.NewConfig().(*elasticsearch.Config)
	cfg.Endpoints = []string{"localhost:9200"}
	cfg.Mode = "stream"
	cfg.Index = "Logs-%H"
	cfg.APIKey, cfg.Username = "k", "u"
	err := cfg.Validate()
	for _, want := range []string{"endpoints[0]", "mode", "index", "api_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
}

// Entries of one batch dated on different days go to their day's index,
// each with @timestamp first and the entry's fields as they were.
func TestIndexPerDay(t *testing.T) {
	c := newCluster()
	srv := httptest.NewServer(c)
	defer srv.Close()
	out := newOutput(t, []string{srv.URL}, nil)
	var recs [][]byte
	for i, ts := range []string{"2026-03-04T23:59:59Z", "2026-03-05T00:00:00Z", "2026-03-04T12:00:00Z", "2026-03-06T00:00:00.5Z"} {
		recs = append(recs, outputtest.Record(t, outputtest.Entry{Payload: fmt.Sprintf("entry %d", i), Timestamp: ts}))
	}
	outputtest.Run(t, out, recs, 4, 10*time.Second)
	want := map[string]int{"logs-2026.03.04": 2, "logs-2026.03.05": 1, "logs-2026.03.06": 1}
	if len(c.docs) != len(want) {
		t.Fatalf("indexes %v, want %v", keys(c.docs), want)
	}
	for idx, n := range want {
		if len(c.docs[idx]) != n {
			t.Errorf("index %s has %d documents, want %d", idx, len(c.docs[idx]), n)
		}
		for id, doc := range c.docs[idx] {
			var d map[string]any
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatalf("document %s: %v", id, err)
			}
			ts, _ := d["@timestamp"].(string)
			if !strings.HasPrefix(string(doc), `{"@timestamp":"`) || d["timestamp"] != ts || !strings.HasPrefix(ts, strings.ReplaceAll(idx[5:], ".", "-")) || d["id"] != id || d["payload"] == nil {
				t.Errorf("index %s, document %s: %s", idx, id, doc)
			}
		}
	}
}
