package otlp_test

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/otlp"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
)

// receiver is an OTLP/HTTP logs endpoint that decodes every request with
// the official protobuf types. fault, when set, answers instead.
type receiver struct {
	mu       sync.Mutex
	requests []*collpb.ExportLogsServiceRequest
	sizes    []int
	fault    func(n int, req *collpb.ExportLogsServiceRequest) (status int, header http.Header, body string)
	calls    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	raw, _ := io.ReadAll(body)
	req := &collpb.ExportLogsServiceRequest{}
	var err error
	if r.Header.Get("Content-Type") == "application/json" {
		err = protojson.Unmarshal(raw, req)
	} else {
		err = proto.Unmarshal(raw, req)
	}
	if err != nil || r.URL.Path != "/v1/logs" {
		http.Error(w, "bad request", 400)
		return
	}
	rc.mu.Lock()
	rc.calls++
	n := rc.calls
	fault := rc.fault
	rc.mu.Unlock()
	if fault != nil {
		if status, h, msg := fault(n, req); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			io.WriteString(w, msg)
			return
		}
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, req)
	rc.sizes = append(rc.sizes, len(raw))
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collpb.ExportLogsServiceResponse{})
	w.Write(out)
}

// ids are the logflux.id attributes of every record received, in order.
func (rc *receiver) ids() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var ids []string
	for _, req := range rc.requests {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					for _, kv := range lr.Attributes {
						if kv.Key == otlp.AttrID {
							ids = append(ids, kv.Value.GetStringValue())
						}
					}
				}
			}
		}
	}
	return ids
}

func newOutput(t *testing.T, endpoint string, edit func(*otlp.Config)) *otlp.Output {
	return newOutputB(t, endpoint, edit)
}

func newOutputB(t testing.TB, endpoint string, edit func(*otlp.Config)) *otlp.Output {
	t.Helper()
	cfg := otlp.Factory{}.NewConfig().(*otlp.Config)
	cfg.Endpoint = endpoint
	cfg.Retry = remote.Retry{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	cfg.Timeout = 5 * time.Second
	if edit != nil {
		edit(cfg)
	}
	cfg.Finish(component.Env{})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := otlp.New(cfg, component.Settings{Name: "otlp"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSet(t *testing.T, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("received %d ids, want %d (first got %v, first want %v)", len(g), len(w), g[:min(3, len(g))], w[:min(3, len(w))])
	}
}

// TestMapping: one resource per source with service.name and host.name,
// severities from the table, JSON payloads as map bodies, metadata and the
// entry's own fields as attributes; both encodings.
func TestMapping(t *testing.T) {
	for _, enc := range []string{"protobuf", "json"} {
		t.Run(enc, func(t *testing.T) {
			rc := &receiver{}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			out := newOutput(t, srv.URL, func(c *otlp.Config) {
				c.Encoding = enc
				c.Resource = map[string]string{"deployment.environment": "test"}
			})
			recs := [][]byte{
				outputtest.Record(t, outputtest.Entry{Payload: "disk full", Source: "web", Level: 1, Metadata: map[string]string{"disk": "/var"}, Timestamp: "2026-01-02T03:04:05.5Z"}),
				outputtest.Record(t, outputtest.Entry{Payload: `{"user":"ana","n":3,"ok":true}`, Source: "api", Level: 6, PayloadType: "generic_json", EntryType: 5}),
				outputtest.Record(t, outputtest.Entry{Payload: "debugging", Source: "web", Level: 8}),
			}
			outputtest.Run(t, out, recs, 3, 10*time.Second)
			if len(rc.requests) != 1 {
				t.Fatalf("%d requests, want 1", len(rc.requests))
			}
			req := rc.requests[0]
			if len(req.ResourceLogs) != 2 {
				t.Fatalf("%d resources, want one per source (2)", len(req.ResourceLogs))
			}
			services := map[string]int{}
			for _, rl := range req.ResourceLogs {
				attrs := map[string]string{}
				for _, kv := range rl.Resource.Attributes {
					attrs[kv.Key] = kv.Value.GetStringValue()
				}
				if attrs["host.name"] == "" || attrs["deployment.environment"] != "test" {
					t.Errorf("resource attributes %v: want host.name and the configured ones", attrs)
				}
				services[attrs["service.name"]] = len(rl.ScopeLogs[0].LogRecords)
			}
			if services["web"] != 2 || services["api"] != 1 {
				t.Errorf("records per service %v, want web 2, api 1", services)
			}
			for _, rl := range req.ResourceLogs {
				for _, lr := range rl.ScopeLogs[0].LogRecords {
					attrs := map[string]string{}
					for _, kv := range lr.Attributes {
						attrs[kv.Key] = kv.Value.GetStringValue()
					}
					switch {
					case lr.Body.GetStringValue() == "disk full":
						if lr.SeverityNumber != 21 || lr.SeverityText != "FATAL" || attrs["disk"] != "/var" || attrs[otlp.AttrSource] != "web" {
							t.Errorf("EMERGENCY entry mapped to %v %q attrs %v", lr.SeverityNumber, lr.SeverityText, attrs)
						}
						if want := uint64(time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC).UnixNano()); lr.TimeUnixNano != want {
							t.Errorf("time_unix_nano %d, want %d", lr.TimeUnixNano, want)
						}
						if lr.ObservedTimeUnixNano == 0 {
							t.Error("observed_time_unix_nano (receivedAt) not set")
						}
					case lr.Body.GetKvlistValue() != nil:
						if lr.SeverityNumber != 10 || len(lr.Body.GetKvlistValue().Values) != 3 {
							t.Errorf("NOTICE JSON entry: severity %v body %v", lr.SeverityNumber, lr.Body)
						}
					case lr.Body.GetStringValue() == "debugging":
						if lr.SeverityNumber != 5 {
							t.Errorf("DEBUG mapped to %v", lr.SeverityNumber)
						}
					default:
						t.Errorf("unexpected record %v", lr)
					}
				}
			}
		})
	}
}

// TestRetryableAnswers: 429 with Retry-After, 503 and a connection that
// is refused at first are retried until delivered, with no entry lost or
// sent twice.
func TestRetryableAnswers(t *testing.T) {
	rc := &receiver{fault: func(n int, _ *collpb.ExportLogsServiceRequest) (int, http.Header, string) {
		switch n {
		case 1:
			return 429, http.Header{"Retry-After": {"1"}}, "slow down"
		case 2:
			return 503, nil, "unavailable"
		}
		return 0, nil, ""
	}}
	// A port with nobody listening yet: connection refused first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := newOutput(t, "http://"+addr, nil)
	recs := outputtest.Records(t, 500, "app")
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		srv := httptest.NewUnstartedServer(rc)
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
	}()
	start := time.Now()
	res := outputtest.Run(t, out, recs, 50, 30*time.Second)
	sameSet(t, rc.ids(), outputtest.IDs(t, recs))
	if took := time.Since(start); took < time.Second {
		t.Errorf("delivered after %v: the 429's Retry-After of 1 s was not honoured", took)
	}
	if got := res.Dispatcher.Counters.Sent.Load(); got != 500 {
		t.Errorf("sent counter %d, want 500", got)
	}
}

// TestPermanentRefusal: a 400 sends the batch to the dead letters with the
// receiver's reason; the next batches go on.
func TestPermanentRefusal(t *testing.T) {
	rc := &receiver{fault: func(n int, _ *collpb.ExportLogsServiceRequest) (int, http.Header, string) {
		if n == 1 {
			return 400, nil, "invalid field"
		}
		return 0, nil, ""
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	out := newOutput(t, srv.URL, func(c *otlp.Config) { c.Batch.MaxEntries = 10 })
	recs := outputtest.Records(t, 30, "app")
	res := outputtest.Run(t, out, recs, 10, 10*time.Second)
	if got := res.DeadLetters.IDs(t); !slices.Equal(got, outputtest.IDs(t, recs[:10])) {
		t.Errorf("dead letters %d, want the first batch of 10", len(got))
	}
	if !strings.Contains(res.DeadLetters.Reasons[0], "400") || !strings.Contains(res.DeadLetters.Reasons[0], "invalid field") {
		t.Errorf("reason %q does not carry the receiver's answer", res.DeadLetters.Reasons[0])
	}
	sameSet(t, rc.ids(), outputtest.IDs(t, recs[10:]))
}

// TestSplitsLargeBatches: a batch whose body would pass max_request_bytes
// goes in several requests, each under it; a 413 halves a request, and a
// single entry still refused with 413 is dead-lettered alone.
func TestSplitsLargeBatches(t *testing.T) {
	big := strings.Repeat("x", 20<<10)
	rc := &receiver{}
	rc.fault = func(_ int, req *collpb.ExportLogsServiceRequest) (int, http.Header, string) {
		n := 0
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					n++
					if lr.Body.GetStringValue() == "too big for the receiver" {
						return 413, nil, "entity too large"
					}
				}
			}
		}
		if n > 20 {
			return 413, nil, "entity too large"
		}
		return 0, nil, ""
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	out := newOutput(t, srv.URL, func(c *otlp.Config) { c.MaxRequestBytes = 256 << 10; c.Batch.MaxBytes = 8 << 20 })
	var recs [][]byte
	for i := 0; i < 60; i++ {
		p := big
		if i == 7 {
			p = "too big for the receiver"
		}
		recs = append(recs, outputtest.Record(t, outputtest.Entry{Payload: p}))
	}
	res := outputtest.Run(t, out, recs, 60, 20*time.Second)
	for i, n := range rc.sizes {
		if n > 256<<10 {
			t.Errorf("request %d has %d bytes, more than max_request_bytes", i, n)
		}
	}
	if len(rc.sizes) < 5 {
		t.Errorf("%d requests for 60 × 20 KiB under 256 KiB each", len(rc.sizes))
	}
	if got := res.DeadLetters.IDs(t); len(got) != 1 || got[0] != outputtest.IDs(t, recs[7:8])[0] {
		t.Errorf("dead letters %v, want only the entry the receiver refuses", got)
	}
	want := outputtest.IDs(t, recs)
	want = append(want[:7], want[8:]...)
	sameSet(t, rc.ids(), want)
}

// TestSlowServer: a receiver slower than the timeout is retried, and
// nothing is lost; what it took before the timeout may come twice (at
// least once), which the receiver can recognise by logflux.id.
func TestSlowServer(t *testing.T) {
	var mu sync.Mutex
	slow := 2
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := slow > 0
		slow--
		mu.Unlock()
		if s {
			time.Sleep(600 * time.Millisecond)
		}
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	out := newOutput(t, srv.URL, func(c *otlp.Config) { c.Timeout = 200 * time.Millisecond })
	recs := outputtest.Records(t, 100, "app")
	outputtest.Run(t, out, recs, 100, 20*time.Second)
	got := rc.ids()
	seen := map[string]bool{}
	for _, id := range got {
		seen[id] = true
	}
	for _, id := range outputtest.IDs(t, recs) {
		if !seen[id] {
			t.Fatalf("entry %s never arrived", id)
		}
	}
}

// TestValidate: every problem at once.
func TestValidate(t *testing.T) {
	cfg := otlp.Factory{}.NewConfig().(*otlp.Config)
	cfg.Endpoint = "ftp://x"
	cfg.Encoding = "xml"
	cfg.Compression = "brotli"
	cfg.Batch.MaxEntries = 0
	err := cfg.Validate()
	for _, want := range []string{"endpoint", "encoding", "compression", "batch.max_entries"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
	if got := (&otlp.Config{Endpoint: "http://h:4318"}).URL(); got != "http://h:4318/v1/logs" {
		t.Errorf("URL() = %q", got)
	}
	if got := (&otlp.Config{Endpoint: "https://h/otlp/v1/logs"}).URL(); got != "https://h/otlp/v1/logs" {
		t.Errorf("URL() = %q", got)
	}
}
