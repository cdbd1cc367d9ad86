package intake_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/queue"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testSecret = "conformance-secret-0123456789abcdef"

type vectorCase struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Transport   string            `json:"transport"`
	Agent       map[string]any    `json:"agent"`
	Steps       []json.RawMessage `json:"steps"`
	Output      []any             `json:"output"`
}

type step struct {
	Send         *string                   `json:"send"`
	Expand       map[string]map[string]any `json:"expand"`
	SendRaw      *string                   `json:"send_raw"`
	WaitMS       *int                      `json:"wait_ms"`
	Expect       any                       `json:"expect"`
	ExpectClosed bool                      `json:"expect_closed"`
}

func loadVectors(t *testing.T) []vectorCase {
	t.Helper()
	files, err := filepath.Glob("../../testdata/protocol/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance vectors found: %v", err)
	}
	sort.Strings(files)
	var all []vectorCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cases []vectorCase `json:"cases"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, doc.Cases...)
	}
	return all
}

// TestConformance runs every vector in testdata/protocol against a real
// intake server on a real Unix socket and a real TCP listener, with a real
// memory queue and file output.
func TestConformance(t *testing.T) {
	for _, vc := range loadVectors(t) {
		transports := []string{vc.Transport}
		if vc.Transport == "any" {
			transports = []string{"unix", "tcp"}
		}
		for _, tr := range transports {
			t.Run(tr+"/"+vc.Name, func(t *testing.T) {
				runVector(t, vc, tr)
			})
		}
	}
}

type harness struct {
	srv      *intake.Server
	q        *queue.Memory
	out      *file.Output
	outPath  string
	unixPath string
	tcpAddr  string
	disp     *output.Dispatcher
	dispDone chan error
	cancel   context.CancelFunc
}

func newHarness(t *testing.T, agentCfg map[string]any) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{unixPath: filepath.Join(dir, "a.sock"), outPath: filepath.Join(dir, "out.ndjson")}
	maxBytes := int64(64 << 20)
	if v, ok := agentCfg["queue_max_bytes"].(float64); ok {
		maxBytes = int64(v)
	}
	authTimeout := 5 * time.Second
	if v, ok := agentCfg["auth_timeout_ms"].(float64); ok {
		authTimeout = time.Duration(v) * time.Millisecond
	}
	h.q = queue.NewMemory(maxBytes, queue.Reject)
	h.out, err = file.New(file.Options{Path: h.outPath, MaxSize: 1 << 30, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.q.Reader("file")
	if err != nil {
		t.Fatal(err)
	}
	h.disp = &output.Dispatcher{Out: h.out, Reader: r}
	h.dispDone = make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	// MaxPerProcess off: the tests play many client processes from this one.
	h.srv = intake.New(intake.Options{SharedSecret: testSecret, AuthTimeout: authTimeout, MaxPerProcess: -1}, h.q)
	uln, err := h.srv.ListenUnix(h.unixPath, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Serve(uln, intake.Unix)
	tln, err := h.srv.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.tcpAddr = tln.Addr().String()
	h.srv.Serve(tln, intake.TCP)
	if agentCfg["output"] != "stalled" {
		h.startOutput(ctx)
	}
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *harness) startOutput(ctx context.Context) {
	if h.disp == nil {
		return
	}
	d := h.disp
	h.disp = nil
	go func() { h.dispDone <- d.Run(ctx) }()
}

// drain shuts the server down, lets the output take everything, and returns
// the entries that came out.
func (h *harness) drain(t *testing.T) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("intake shutdown: %v", err)
	}
	h.q.CloseWrite()
	h.startOutput(ctx)
	select {
	case err := <-h.dispDone:
		if err != nil {
			t.Fatalf("output: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("output did not drain")
	}
	h.dispDone = nil
	if err := h.out.Close(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(h.outPath)
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("output line is not JSON: %v: %.200s", err, line)
		}
		entries = append(entries, e)
	}
	return entries
}

func (h *harness) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
	h.q.CloseWrite()
	h.cancel()
	h.startOutput(ctx)
	if h.dispDone != nil {
		<-h.dispDone
	}
	h.out.Close(ctx)
	h.q.Close()
}

func (h *harness) dial(t *testing.T, transport string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if transport == "unix" {
		c, err = net.Dial("unix", h.unixPath)
	} else {
		c, err = net.Dial("tcp", h.tcpAddr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runVector(t *testing.T, vc vectorCase, transport string) {
	h := newHarness(t, vc.Agent)
	conn := h.dial(t, transport)
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 1<<16)
	write := func(b []byte) {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	readLine := func() ([]byte, error) {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		return r.ReadBytes('\n')
	}
	if vc.Transport == "any" && transport == "tcp" {
		write([]byte(`{"version":"1.0","action":"authenticate","shared_secret":"` + testSecret + `"}` + "\n"))
		line, err := readLine()
		if err != nil || !bytes.Contains(line, []byte(`"success"`)) {
			t.Fatalf("authenticate: %q %v", line, err)
		}
	}
	for i, raw := range vc.Steps {
		var s step
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		switch {
		case s.Send != nil:
			text := strings.ReplaceAll(*s.Send, "@SECRET@", testSecret)
			for ph, spec := range s.Expand {
				text = strings.ReplaceAll(text, ph, strings.Repeat(spec["repeat"].(string), int(spec["count"].(float64))))
			}
			write([]byte(text + "\n"))
		case s.SendRaw != nil:
			b, err := base64.StdEncoding.DecodeString(*s.SendRaw)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			write(b)
		case s.WaitMS != nil:
			time.Sleep(time.Duration(*s.WaitMS) * time.Millisecond)
		case s.Expect != nil:
			line, err := readLine()
			if err != nil {
				t.Fatalf("step %d: expected %v, read error %v", i, s.Expect, err)
			}
			var got any
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatalf("step %d: response is not JSON: %q", i, line)
			}
			if err := match(s.Expect, got, nil, "$"); err != nil {
				t.Fatalf("step %d: %v\n got: %s", i, err, bytes.TrimSpace(line))
			}
		case s.ExpectClosed:
			line, err := readLine()
			if len(line) > 0 || err == nil {
				t.Fatalf("step %d: expected the connection to close, got %q", i, line)
			}
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("step %d: expected the connection to close, got error %v", i, err)
			}
		default:
			t.Fatalf("step %d: unknown step %s", i, raw)
		}
	}
	conn.Close()
	got := h.drain(t)
	if len(got) != len(vc.Output) {
		t.Fatalf("%d entries came out, want %d", len(got), len(vc.Output))
	}
	for i, want := range vc.Output {
		if err := match(want, got[i], got[i], "$"); err != nil {
			b, _ := json.Marshal(got[i])
			t.Fatalf("entry %d: %v\n got: %.300s", i, err, b)
		}
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// match checks got against the expectation want, with the patterns of
// testdata/protocol/README.md; record is the entry for $receivedAt.
func match(want, got any, record map[string]any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", path, got)
		}
		for k, wv := range w {
			gv, present := g[k]
			if wv == "$absent" {
				if present {
					return fmt.Errorf("%s.%s: want absent, got %v", path, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Errorf("%s.%s: missing", path, k)
			}
			if err := match(wv, gv, record, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %d elements, got %v", path, len(w), got)
		}
		for i := range w {
			if err := match(w[i], g[i], record, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case string:
		gs, isStr := got.(string)
		switch {
		case w == "$any":
			return nil
		case w == "$uuid":
			if !isStr || !uuidRE.MatchString(gs) {
				return fmt.Errorf("%s: want a UUID, got %v", path, got)
			}
			return nil
		case w == "$rfc3339utc":
			if _, err := time.Parse(time.RFC3339Nano, gs); err != nil || !strings.HasSuffix(gs, "Z") {
				return fmt.Errorf("%s: want an RFC 3339 UTC time, got %v", path, got)
			}
			return nil
		case w == "$receivedAt":
			if record == nil || got != record["receivedAt"] {
				return fmt.Errorf("%s: want the entry's receivedAt, got %v", path, got)
			}
			return nil
		case strings.HasPrefix(w, "$len:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(w, "$len:"))
			if !isStr || len(gs) != n {
				return fmt.Errorf("%s: want a string of %d bytes, got %d", path, n, len(gs))
			}
			return nil
		}
		if got != w {
			return fmt.Errorf("%s: want %q, got %v", path, w, got)
		}
		return nil
	default:
		if want != got {
			return fmt.Errorf("%s: want %v, got %v", path, want, got)
		}
		return nil
	}
}

// TestMatcherRejects makes sure the vector matcher can fail, so that a
// passing conformance run means something.
func TestMatcherRejects(t *testing.T) {
	rec := map[string]any{"receivedAt": "2026-01-01T00:00:00Z", "timestamp": "2025-01-01T00:00:00Z"}
	bad := []struct{ want, got any }{
		{map[string]any{"code": "invalid_json"}, map[string]any{"code": "invalid_entry"}},
		{map[string]any{"x": "$absent"}, map[string]any{"x": 1.0}},
		{map[string]any{"x": "$any"}, map[string]any{}},
		{[]any{1.0, 2.0}, []any{1.0}},
		{"$uuid", "not-a-uuid"},
		{"$rfc3339utc", "2025-01-01T00:00:00+01:00"},
		{"$len:3", "abcd"},
		{map[string]any{"timestamp": "$receivedAt"}, rec},
	}
	for _, b := range bad {
		if err := match(b.want, b.got, rec, "$"); err == nil {
			t.Errorf("match(%v, %v) passed; want a mismatch", b.want, b.got)
		}
	}
}
