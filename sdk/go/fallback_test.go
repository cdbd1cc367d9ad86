package logflux

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/sdk/go/internal/fakeagent"
)

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFallbackFileIsReplayable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fallback.ndjson")
	cfg := testConfig("unix://" + dir + "/none.sock")
	cfg.Fallback = FallbackFile
	cfg.FallbackPath = path
	c := newClient(t, cfg)

	const n = 250
	for i := range n {
		mustLog(t, c, Entry{
			Payload:  fmt.Sprintf("spilled %d \"quoted\"\n", i),
			Level:    LevelWarning,
			Metadata: map[string]string{"i": fmt.Sprint(i)},
		})
	}
	// The agent stays down past FallbackAfter: the entries go to the file
	// while the client runs, not only at Close.
	waitFor(t, "entries in the fallback file", 3*time.Second, func() bool { return c.Stats().Fallback == n })
	if s := c.Stats(); s.Queued != 0 || len(s.Dropped) != 0 {
		t.Errorf("stats = %+v", s)
	}

	es := fakeagent.ReadFileEntries(t, path)
	if len(es) != n {
		t.Fatalf("fallback file has %d entries, want %d", len(es), n)
	}
	for i, e := range es {
		if e.Payload != fmt.Sprintf("spilled %d \"quoted\"\n", i) || e.LogLevel != 5 || e.Source != "sdk-test" || e.Metadata["i"] != fmt.Sprint(i) || e.Timestamp == "" {
			t.Fatalf("line %d = %+v", i+1, e)
		}
	}

	// Replay it into an agent, as `logflux-agent send --file` does.
	a := startAgent(t)
	accepted, rejected := fakeagent.Replay(t, "unix", a.Path(), path)
	if accepted != n || rejected != 0 {
		t.Fatalf("replay: accepted %d, rejected %d", accepted, rejected)
	}
	if got := a.Entries(); len(got) != n || got[n-1].Payload != es[n-1].Payload {
		t.Fatalf("agent got %d entries from the replay", len(got))
	}
}

func TestFallbackFileIsCapped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fallback.ndjson")
	cfg := testConfig("unix://" + dir + "/none.sock")
	cfg.Fallback = FallbackFile
	cfg.FallbackPath = path
	cfg.FallbackMaxBytes = 4000
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		mustLog(t, c, Entry{Payload: strings.Repeat("c", 100)})
	}
	c.Close(ctxTimeout(t, time.Second))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 4000 {
		t.Errorf("fallback file is %d bytes, cap 4000", fi.Size())
	}
	s := c.Stats()
	written := uint64(len(fakeagent.ReadFileEntries(t, path)))
	if s.Fallback != written || s.Fallback+s.Dropped["fallback_full"] != 100 || s.Dropped["fallback_full"] == 0 {
		t.Errorf("Fallback %d (file has %d), Dropped %v: want all 100 accounted for", s.Fallback, written, s.Dropped)
	}
}

func TestFallbackFileReopenedAfterRemoval(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fallback.ndjson")
	cfg := testConfig("unix://" + dir + "/none.sock")
	cfg.Fallback = FallbackFile
	cfg.FallbackPath = path
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "first"})
	waitFor(t, "first spill", 3*time.Second, func() bool { return c.Stats().Fallback == 1 })
	if err := os.Remove(path); err != nil { // replayed and removed by an operator
		t.Fatal(err)
	}
	mustLog(t, c, Entry{Payload: "second"})
	waitFor(t, "second spill", 3*time.Second, func() bool { return c.Stats().Fallback == 2 })
	if es := fakeagent.ReadFileEntries(t, path); len(es) != 1 || es[0].Payload != "second" {
		t.Fatalf("new fallback file holds %+v", es)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFallbackStderrAtClose(t *testing.T) {
	dir := t.TempDir()
	var stderr lockedBuffer
	cfg := testConfig("unix://" + dir + "/none.sock")
	cfg.Fallback = FallbackStderr
	cfg.FallbackAfter = time.Hour // only Close spills
	cfg.stderr = &stderr
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustLog(t, c, Entry{Payload: "to stderr 1"})
	mustLog(t, c, Entry{Payload: "to stderr 2"})
	err = c.Close(ctxTimeout(t, time.Second))
	if err == nil || !strings.Contains(err.Error(), "2 written to the stderr fallback") {
		t.Errorf("Close = %v, want it to say 2 entries went to the fallback", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"payload":"to stderr 1"`) {
		t.Fatalf("stderr = %q", stderr.String())
	}
	if s := c.Stats(); s.Fallback != 2 {
		t.Errorf("Fallback = %d", s.Fallback)
	}
}

func TestFallbackWhenQueueFillsWhileDown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fallback.ndjson")
	cfg := testConfig("unix://" + dir + "/none.sock")
	cfg.Fallback = FallbackFile
	cfg.FallbackPath = path
	cfg.FallbackAfter = time.Hour
	cfg.QueueBytes = 64 << 10
	cfg.BatchBytes = 8 << 10
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "start"})
	c.Flush(ctxTimeout(t, time.Second)) // learns that the agent is down
	for i := range 300 {
		c.Log(ctxTimeout(t, time.Second), Entry{Payload: fmt.Sprint(i, strings.Repeat("f", 200))})
		time.Sleep(100 * time.Microsecond)
	}
	waitFor(t, "spill of a nearly full queue", 3*time.Second, func() bool { return c.Stats().Fallback > 0 })
}
