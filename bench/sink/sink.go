package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
)

// maxBody bounds one request body after decompression: the outputs measured
// send a few MiB at most.
const maxBody = 64 << 20

// Sink counts the log entries in the request bodies it is sent, by protocol:
//
//	POST /v1/logs            OTLP/HTTP logs (protobuf or JSON) → 200, empty ExportLogsServiceResponse
//	POST …/_bulk             Elasticsearch _bulk → 200, {"errors":false,"items":[one per action]}
//	POST /loki/api/v1/push   Loki push (JSON) → 204
//	POST or PUT anything else  NDJSON or a JSON array → 200
//
// and reports on
//
//	GET  /_sink/stats                    the counters, as JSON
//	GET  /_sink/wait?entries=N&timeout=D the counters once N entries arrived (504 at the timeout)
//	POST /_sink/reset                    counters back to zero
//
// Bodies compressed with gzip or zstd (Content-Encoding) are decompressed. A
// body it cannot read is answered 400 and counted in bad_requests; its
// entries are not counted.
type Sink struct {
	entries  atomic.Int64
	requests atomic.Int64
	bytes    atomic.Int64 // request bodies as received (compressed)
	bad      atomic.Int64

	mu      sync.Mutex
	first   time.Time // first counted request since the reset
	last    time.Time // last counted request
	changed chan struct{}
}

// NewSink returns a sink with its counters at zero.
func NewSink() *Sink { return &Sink{changed: make(chan struct{})} }

// Stats is what /_sink/stats and /_sink/wait answer.
type Stats struct {
	Entries     int64 `json:"entries"`
	Requests    int64 `json:"requests"`
	Bytes       int64 `json:"bytes"`
	BadRequests int64 `json:"bad_requests"`
	FirstUnixNs int64 `json:"first_unix_ns"` // 0 before the first request
	LastUnixNs  int64 `json:"last_unix_ns"`
}

func (s *Sink) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Entries: s.entries.Load(), Requests: s.requests.Load(), Bytes: s.bytes.Load(), BadRequests: s.bad.Load()}
	if !s.first.IsZero() {
		st.FirstUnixNs, st.LastUnixNs = s.first.UnixNano(), s.last.UnixNano()
	}
	return st
}

func (s *Sink) count(n int, size int) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	s.entries.Add(int64(n))
	s.requests.Add(1)
	s.bytes.Add(int64(size))
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Sink) reset() {
	s.mu.Lock()
	s.entries.Store(0)
	s.requests.Store(0)
	s.bytes.Store(0)
	s.bad.Store(0)
	s.first, s.last = time.Time{}, time.Time{}
	s.mu.Unlock()
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sink/stats":
		writeJSON(w, http.StatusOK, s.stats())
	case r.URL.Path == "/_sink/wait":
		s.wait(w, r)
	case r.URL.Path == "/_sink/reset" && r.Method == http.MethodPost:
		s.reset()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		// Elasticsearch clients that ask the server's version first.
		writeJSON(w, http.StatusOK, map[string]any{"version": map[string]string{"number": "8.15.0"}, "tagline": "You Know, for Search"})
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		s.ingest(w, r)
	default:
		http.Error(w, "sink: POST a body, or GET /_sink/stats", http.StatusMethodNotAllowed)
	}
}

// wait answers once entries reached the number asked for, or 504 at the timeout.
func (s *Sink) wait(w http.ResponseWriter, r *http.Request) {
	want, err := strconv.ParseInt(r.URL.Query().Get("entries"), 10, 64)
	if err != nil {
		http.Error(w, "sink: entries must be a number", http.StatusBadRequest)
		return
	}
	timeout := 5 * time.Minute
	if t := r.URL.Query().Get("timeout"); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil {
			http.Error(w, "sink: timeout must be a duration", http.StatusBadRequest)
			return
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch, n := s.changed, s.entries.Load()
		s.mu.Unlock()
		if n >= want {
			writeJSON(w, http.StatusOK, s.stats())
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			writeJSON(w, http.StatusGatewayTimeout, s.stats())
			return
		case <-r.Context().Done():
			return
		}
	}
}

// ingest reads a body, counts its entries by protocol and answers as that
// protocol's server would on success.
func (s *Sink) ingest(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(raw) > maxBody {
		err = fmt.Errorf("body larger than %d bytes", maxBody)
	}
	var body []byte
	if err == nil {
		body, err = decompress(r.Header.Get("Content-Encoding"), raw)
	}
	if err != nil {
		s.refuse(w, err)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/v1/logs":
		n, err := countOTLP(r.Header.Get("Content-Type"), body)
		if err != nil {
			s.refuse(w, err)
			return
		}
		s.count(n, len(raw))
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{}"))
			return
		}
		// An empty ExportLogsServiceResponse is zero bytes of protobuf.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	case path == "/_bulk" || strings.HasSuffix(path, "/_bulk"):
		answer, n, err := bulkAnswer(body)
		if err != nil {
			s.refuse(w, err)
			return
		}
		s.count(n, len(raw))
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	case path == "/loki/api/v1/push":
		n, err := countLoki(body)
		if err != nil {
			s.refuse(w, err)
			return
		}
		s.count(n, len(raw))
		w.WriteHeader(http.StatusNoContent)
	default:
		n, err := countJSON(body)
		if err != nil {
			s.refuse(w, err)
			return
		}
		s.count(n, len(raw))
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Sink) refuse(w http.ResponseWriter, err error) {
	s.bad.Add(1)
	http.Error(w, "sink: "+err.Error(), http.StatusBadRequest)
}

func decompress(encoding string, raw []byte) ([]byte, error) {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unknown Content-Encoding %q", encoding)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", encoding, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("body larger than %d bytes decompressed", maxBody)
	}
	return b, nil
}

// countOTLP counts the log records of an ExportLogsServiceRequest: in
// protobuf by walking the wire format (resource_logs = 1 → scope_logs = 2 →
// log_records = 2) without decoding the records, or in OTLP/JSON.
func countOTLP(contentType string, body []byte) (int, error) {
	if strings.HasPrefix(contentType, "application/json") {
		var req struct {
			ResourceLogs []struct {
				ScopeLogs []struct {
					LogRecords []json.RawMessage `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, fmt.Errorf("OTLP/JSON: %w", err)
		}
		n := 0
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				n += len(sl.LogRecords)
			}
		}
		return n, nil
	}
	n := 0
	err := eachField(body, 1, func(rl []byte) error {
		return eachField(rl, 2, func(sl []byte) error {
			return eachField(sl, 2, func([]byte) error { n++; return nil })
		})
	})
	if err != nil {
		return 0, fmt.Errorf("OTLP protobuf: %w", err)
	}
	return n, nil
}

// eachField calls fn with the bytes of every length-delimited field numbered
// num in the message b, and skips the other fields.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return protowire.ParseError(k)
		}
		b = b[k:]
		if n == num && typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return protowire.ParseError(k)
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[k:]
			continue
		}
		k = protowire.ConsumeFieldValue(n, typ, b)
		if k < 0 {
			return protowire.ParseError(k)
		}
		b = b[k:]
	}
	return nil
}

// bulkAnswer counts the actions of a _bulk body (an action line, then a
// document line except for delete) and builds the answer Elasticsearch gives
// when every one succeeded.
func bulkAnswer(body []byte) ([]byte, int, error) {
	var out bytes.Buffer
	out.WriteString(`{"took":1,"errors":false,"items":[`)
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), maxBody)
	expectDoc := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if expectDoc {
			expectDoc = false
			continue
		}
		op, err := bulkOp(line)
		if err != nil {
			return nil, 0, fmt.Errorf("_bulk line %d: %w", n+1, err)
		}
		if n > 0 {
			out.WriteByte(',')
		}
		status := 201
		if op == "delete" {
			status = 200
		} else {
			expectDoc = true
		}
		fmt.Fprintf(&out, `{%q:{"status":%d,"result":"created"}}`, op, status)
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("_bulk: %w", err)
	}
	if expectDoc {
		return nil, 0, errors.New("_bulk: the last action has no document")
	}
	out.WriteString("]}")
	return out.Bytes(), n, nil
}

// bulkOp returns the operation of an action line: {"create":{…}}.
func bulkOp(line []byte) (string, error) {
	var action map[string]json.RawMessage
	if err := json.Unmarshal(line, &action); err != nil {
		return "", fmt.Errorf("action is not JSON: %w", err)
	}
	if len(action) != 1 {
		return "", fmt.Errorf("action has %d keys, want 1", len(action))
	}
	for op := range action {
		switch op {
		case "create", "index", "update", "delete":
			return op, nil
		}
		return "", fmt.Errorf("unknown action %q", op)
	}
	return "", nil
}

// countLoki counts the values of a Loki push request in JSON.
func countLoki(body []byte) (int, error) {
	var req struct {
		Streams []struct {
			Values []json.RawMessage `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, fmt.Errorf("Loki push (only JSON is read): %w", err)
	}
	n := 0
	for _, s := range req.Streams {
		n += len(s.Values)
	}
	return n, nil
}

// countJSON counts the elements of a JSON array, or the non-empty lines of
// NDJSON (each must be JSON).
func countJSON(body []byte) (int, error) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(t, &arr); err != nil {
			return 0, fmt.Errorf("JSON array: %w", err)
		}
		return len(arr), nil
	}
	n := 0
	for i, line := range bytes.Split(t, []byte{'\n'}) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return 0, fmt.Errorf("NDJSON line %d is not JSON", i+1)
		}
		n++
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
