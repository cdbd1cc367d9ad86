package httpout_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/httpout"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// sink is an HTTP endpoint that decodes what it gets and may answer with
// a scripted status instead.
type sink struct {
	mu     sync.Mutex
	ids    []string
	auth   []string
	status []int // answers for the first requests; 0 or none: 200
	calls  int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	var status int
	if len(s.status) > 0 {
		status, s.status = s.status[0], s.status[1:]
	}
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, "scripted answer")
		return
	}
	var body io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "gzip":
		body, _ = gzip.NewReader(r.Body)
	case "zstd":
		d, _ := zstd.NewReader(r.Body)
		defer d.Close()
		body = d
	}
	raw, _ := io.ReadAll(body)
	var recs [][]byte
	if r.Header.Get("Content-Type") == "application/json" {
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, a := range arr {
			recs = append(recs, a)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			recs = append(recs, append([]byte(nil), sc.Bytes()...))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		e, err := record.Parse(rec)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.ids = append(s.ids, e.ID)
	}
}

func newOutput(t *testing.T, url string, edit func(*httpout.Config)) *httpout.Output {
	t.Helper()
	cfg := httpout.Factory{}.NewConfig().(*httpout.Config)
	cfg.URL = url
	cfg.Retry = remote.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := httpout.New(cfg, component.Settings{Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFormatsAndCompression: every format and compression arrives whole.
func TestFormatsAndCompression(t *testing.T) {
	for _, format := range []string{"ndjson", "json_array"} {
		for _, comp := range remote.Compressions {
			t.Run(format+"/"+comp, func(t *testing.T) {
				s := &sink{}
				srv := httptest.NewServer(s)
				defer srv.Close()
				out := newOutput(t, srv.URL, func(c *httpout.Config) { c.Format, c.Compression = format, comp })
				recs := outputtest.Records(t, 250, "app")
				outputtest.Run(t, out, recs, 25, 10*time.Second)
				if !slices.Equal(s.ids, outputtest.IDs(t, recs)) {
					t.Fatalf("received %d entries, want the 250 sent, in order", len(s.ids))
				}
			})
		}
	}
}

// TestRetriesAndRefusals: 408, 429 and 503 are retried; 400 and 501 go
// to the dead letters with the answer; nothing is lost or sent twice.
func TestRetriesAndRefusals(t *testing.T) {
	s := &sink{status: []int{408, 429, 503, 400, 501}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	out := newOutput(t, srv.URL, func(c *httpout.Config) { c.Batch.MaxEntries = 10 })
	recs := outputtest.Records(t, 40, "app")
	res := outputtest.Run(t, out, recs, 10, 10*time.Second)
	// The first batch is retried through 408, 429 and 503, then refused
	// by 400; the second is refused by 501; the last two are delivered.
	if got := res.DeadLetters.IDs(t); !slices.Equal(got, outputtest.IDs(t, recs[:20])) {
		t.Errorf("dead letters: %d entries, want the first 20", len(got))
	}
	if !strings.Contains(res.DeadLetters.Reasons[0], "HTTP 400") || !strings.Contains(res.DeadLetters.Reasons[19], "HTTP 501") {
		t.Errorf("reasons %q, %q", res.DeadLetters.Reasons[0], res.DeadLetters.Reasons[19])
	}
	if !slices.Equal(s.ids, outputtest.IDs(t, recs[20:])) {
		t.Errorf("delivered %d, want the last 20 once each", len(s.ids))
	}
	if got := res.Dispatcher.Counters.DeadLetter.Load(); got != 20 {
		t.Errorf("dead-letter counter %d, want 20", got)
	}
}

// TestAuth: basic and bearer (from a file) reach the server.
func TestAuth(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	out := newOutput(t, srv.URL, func(c *httpout.Config) { c.BearerTokenFile = tok })
	outputtest.Run(t, out, outputtest.Records(t, 1, "a"), 1, 5*time.Second)
	out = newOutput(t, srv.URL, func(c *httpout.Config) { c.Username, c.Password = "ana", "pw" })
	outputtest.Run(t, out, outputtest.Records(t, 1, "a"), 1, 5*time.Second)
	if len(s.auth) != 2 || s.auth[0] != "Bearer s3cret" || !strings.HasPrefix(s.auth[1], "Basic ") {
		t.Errorf("Authorization headers %q", s.auth)
	}
}

// TestValidate: every problem at once.
func TestValidate(t *testing.T) {
	cfg := httpout.Factory{}.NewConfig().(*httpout.Config)
	cfg.Method, cfg.Format, cfg.Compression = "GET", "xml", "lz4"
	cfg.Password, cfg.PasswordFile = "a", "/nope"
	err := cfg.Validate()
	for _, want := range []string{"url", "method", "format", "compression", "password"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
}
