package logflux

// Integration tests against the real agent, built from this repository's
// ./cmd/logflux-agent. They skip only while that package does not exist.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var agentBinary struct {
	once sync.Once
	dir  string
	path string
	skip string
	err  error
}

// buildAgent builds the agent once per test binary.
func buildAgent(t testing.TB) string {
	t.Helper()
	agentBinary.once.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			agentBinary.err = err
			return
		}
		dir, err := os.MkdirTemp("", "lfagent")
		if err != nil {
			agentBinary.err = err
			return
		}
		agentBinary.dir = dir
		bin := filepath.Join(dir, "logflux-agent")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/logflux-agent")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		switch {
		case err == nil:
			agentBinary.path = bin
		case packageMissing(string(out)):
			agentBinary.skip = "the agent is not written yet: go build ./cmd/logflux-agent: " + strings.TrimSpace(string(out))
		default:
			agentBinary.err = fmt.Errorf("go build ./cmd/logflux-agent in %s: %v\n%s", root, err, out)
		}
	})
	if agentBinary.skip != "" {
		t.Skip(agentBinary.skip)
	}
	if agentBinary.err != nil {
		t.Fatal(agentBinary.err)
	}
	return agentBinary.path
}

func packageMissing(out string) bool {
	for _, s := range []string{"no Go files in", "cannot find package", "directory not found", "does not contain package", "is not in std", "matched no packages"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

func removeAgentBinary() {
	if agentBinary.dir != "" {
		os.RemoveAll(agentBinary.dir)
	}
}

// realAgent is a running logflux-agent process.
type realAgent struct {
	t      testing.TB
	bin    string
	args   []string
	sock   string
	data   string
	tcp    string // host:port, if TCP is on
	secret string
	config string // configuration file, if any
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// startRealAgent runs the agent on a Unix socket in a temporary directory,
// and on a loopback TCP port too when secret is set.
func startRealAgent(t testing.TB, secret string) *realAgent {
	t.Helper()
	return startRealAgentConfig(t, secret, "")
}

// startRealAgentConfig is startRealAgent with a configuration file of
// content configYAML (none if empty); setConfig changes it for the next
// start.
func startRealAgentConfig(t testing.TB, secret, configYAML string) *realAgent {
	t.Helper()
	r := newRealAgent(t, secret, configYAML)
	r.start()
	return r
}

// newRealAgent is startRealAgentConfig without the start.
func newRealAgent(t testing.TB, secret, configYAML string) *realAgent {
	t.Helper()
	bin := buildAgent(t)
	dir := t.TempDir()
	r := &realAgent{t: t, bin: bin, sock: filepath.Join(dir, "agent.sock"), data: filepath.Join(dir, "data"), secret: secret}
	r.args = []string{"run", "--unix-path", r.sock, "--data-dir", r.data, "--admin-address", "off"}
	if secret != "" {
		r.tcp = freeLoopbackAddr(t)
		r.args = append(r.args, "--tcp-address", r.tcp, "--shared-secret", secret)
	}
	if configYAML != "" {
		r.config = filepath.Join(dir, "agent.yaml")
		r.args = append(r.args, "--config", r.config)
		r.setConfig(configYAML)
	}
	t.Cleanup(r.stop)
	return r
}

// setConfig rewrites the agent's configuration file, read at the next start.
func (r *realAgent) setConfig(configYAML string) {
	r.t.Helper()
	if err := os.WriteFile(r.config, []byte(configYAML), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func freeLoopbackAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *realAgent) start() {
	r.t.Helper()
	r.out = new(lockedBuffer)
	r.cmd = exec.Command(r.bin, r.args...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", r.sock)
		if err == nil {
			c.Close()
			if r.tcp == "" {
				return
			}
			if c, err = net.Dial("tcp", r.tcp); err == nil {
				c.Close()
				return
			}
		}
		select {
		case <-r.exited:
			r.t.Fatalf("agent exited at start: %s", r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			r.t.Fatalf("agent not listening after 10s: %v\n%s", err, r.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the agent with SIGTERM, or kills it after 10 seconds.
func (r *realAgent) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		r.t.Errorf("agent did not stop on SIGTERM within 10s:\n%s", r.out.String())
	}
	r.cmd = nil
}

func (r *realAgent) addr() string { return "unix://" + r.sock }

// stored returns the entries the agent wrote to its data directory.
func (r *realAgent) stored() []map[string]any {
	r.t.Helper()
	f, err := os.Open(filepath.Join(r.data, "entries.ndjson"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 32<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.t.Fatalf("entries.ndjson: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// waitStored waits until the agent has written at least n entries.
func (r *realAgent) waitStored(n int, timeout time.Duration) []map[string]any {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		es := r.stored()
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("agent stored %d entries after %v, want %d\n%s", len(es), timeout, n, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func byPayload(es []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, e := range es {
		p, _ := e["payload"].(string)
		m[p] = e
	}
	return m
}

func TestRealAgentStoresWhatTheSDKSends(t *testing.T) {
	r := startRealAgent(t, "")
	c := newClient(t, testConfig(r.addr()))
	ts := time.Date(2025, 8, 31, 10, 30, 0, 500_000_000, time.UTC)
	mustLog(t, c, Entry{
		Payload: "full entry", EntryType: TypeAudit, Source: "auth-service", Level: LevelNotice,
		Timestamp: ts, PayloadType: "application", Metadata: map[string]string{"env": "production", "quote": `"x"`},
	})
	mustLog(t, c, Metric("queue.depth", 42))
	slog.New(NewHandler(c, &HandlerOptions{AddSource: true})).Warn("from slog", "user", "ana", slog.Group("req", "id", 7))
	const bulk = 1000
	for i := range bulk {
		mustLog(t, c, Entry{Payload: fmt.Sprint("bulk ", i)})
	}
	mustFlush(t, c)

	// Flush means stored: no waiting needed.
	got := byPayload(r.stored())
	if len(got) != bulk+3 {
		t.Fatalf("agent stored %d distinct entries, want %d", len(got), bulk+3)
	}
	e := got["full entry"]
	if e["entryType"] != 5.0 || e["source"] != "auth-service" || e["logLevel"] != 6.0 || e["payloadType"] != "application" {
		t.Errorf("stored entry = %v", e)
	}
	if st, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(e["timestamp"])); !st.Equal(ts) {
		t.Errorf("stored timestamp %v, want %v", e["timestamp"], ts)
	}
	if md, _ := e["metadata"].(map[string]any); md["env"] != "production" || md["quote"] != `"x"` {
		t.Errorf("stored metadata = %v", e["metadata"])
	}
	if e["id"] == nil || e["receivedAt"] == nil {
		t.Errorf("stored entry lacks id or receivedAt: %v", e)
	}
	if m := got[`{"name":"queue.depth","value":42}`]; m == nil || m["entryType"] != 2.0 || m["payloadType"] != "generic_json" {
		t.Errorf("metric stored as %v", m)
	}
	s := got["from slog"]
	md, _ := s["metadata"].(map[string]any)
	if s["logLevel"] != 5.0 || md["user"] != "ana" || md["req.id"] != "7" || !strings.Contains(fmt.Sprint(md["source"]), "agent_test.go:") {
		t.Errorf("slog entry stored as %v", s)
	}
	if st := c.Stats(); st.Confirmed != bulk+3 || len(st.Rejected) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRealAgentTCPAuthentication(t *testing.T) {
	const secret = "sdk-test-secret-0123456789abcdef"
	r := startRealAgent(t, secret)
	cfg := testConfig("tcp://" + r.tcp)
	cfg.SharedSecret = secret
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "over tcp"})
	mustFlush(t, c)
	if byPayload(r.stored())["over tcp"] == nil {
		t.Fatal("entry sent over TCP not stored")
	}

	bad := cfg
	bad.SharedSecret = "not-the-secret-0123456789abcdef!"
	cb := newClient(t, bad)
	mustLog(t, cb, Entry{Payload: "should not pass"})
	if err := cb.Flush(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrAuthFailed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush with a wrong secret = %v, want ErrAuthFailed", err)
	}
}

func TestRealAgentRestart(t *testing.T) {
	r := startRealAgent(t, "")
	c := newClient(t, testConfig(r.addr()))
	mustLog(t, c, Entry{Payload: "before restart"})
	mustFlush(t, c)
	r.stop()
	mustLog(t, c, Entry{Payload: "while down"})
	if err := c.Flush(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Flush while the agent is down = %v, want ErrUnavailable", err)
	}
	r.start()
	mustLog(t, c, Entry{Payload: "after restart"})
	r.waitStored(3, 10*time.Second)
	mustFlush(t, c)
	got := byPayload(r.stored())
	for _, p := range []string{"before restart", "while down", "after restart"} {
		if got[p] == nil {
			t.Errorf("%q not stored", p)
		}
	}
}

func TestRealAgentReplaysFallbackFile(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "fallback.ndjson")
	cfg := testConfig("unix://" + dir + "/absent.sock")
	cfg.Fallback = FallbackFile
	cfg.FallbackPath = path
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		mustLog(t, c, Entry{Payload: fmt.Sprint("offline ", i), Level: LevelWarning, Metadata: map[string]string{"i": strconv.Itoa(i)}})
	}
	c.Close(ctxTimeout(t, 2*time.Second))
	if s := c.Stats(); s.Fallback != 150 {
		t.Fatalf("Fallback = %d, want 150", s.Fallback)
	}

	r := startRealAgent(t, "")
	out, err := exec.Command(bin, "send", "--addr", r.addr(), "--file", path).CombinedOutput()
	if err != nil {
		t.Fatalf("logflux-agent send --file: %v\n%s", err, out)
	}
	got := byPayload(r.stored())
	for i := range 150 {
		e := got[fmt.Sprint("offline ", i)]
		if e == nil || e["logLevel"] != 5.0 || e["source"] != "sdk-test" {
			t.Fatalf("replayed entry %d stored as %v", i, e)
		}
	}
}

// BenchmarkEndToEndRealAgent is BenchmarkEndToEndFakeAgent against the real
// agent.
func BenchmarkEndToEndRealAgent(b *testing.B) {
	r := startRealAgent(b, "")
	cfg := testConfig(r.addr())
	cfg.Block = true
	endToEnd(b, newClient(b, cfg))
}

// TestRealAgentQueueFullConfirmsWhatItTook: while the agent answers
// queue_full to some batches, the ones it took are confirmed all the same
// (a flush gets through between the retries), Flush fails while it cannot
// be true, and succeeds once the agent has room again, with nothing lost
// and nothing the agent took sent twice.
func TestRealAgentQueueFullConfirmsWhatItTook(t *testing.T) {
	// A small agent queue that cannot drain: an entry leaves it only once
	// every output has it, and the LogFlux output points at a closed
	// loopback port.
	stalled := fmt.Sprintf(`limits:
  max_line_bytes: 64KiB
queue:
  max_bytes: 160KiB
shutdown:
  timeout: 1s
outputs:
  - type: file
  - type: logflux
    api_key: eu-lf_0123456789abcdef0123456789abcdef
    endpoint: http://%s
`, freeLoopbackAddr(t))
	r := newRealAgent(t, "", stalled)
	cfg := testConfig(r.addr())
	cfg.BatchBytes = 16 << 10 // about 70 entries a batch: far more batches than maxPending
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 300*time.Millisecond
	c := newClient(t, cfg)
	const n = 10000
	pad := strings.Repeat("x", 100)
	// Logged before the agent is up, so that batches are waiting from the
	// first moment it answers: the SDK always has more to send than the
	// agent takes.
	for i := range n {
		mustLog(t, c, Entry{Payload: fmt.Sprintf("entry %d %s", i, pad)})
	}
	r.start()

	// The agent cannot take everything: Flush says so.
	if err := c.Flush(ctxTimeout(t, 2*time.Second)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the agent's queue is full = %v, want a deadline error", err)
	}
	// What it did take is confirmed while it keeps answering queue_full.
	var s Stats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s = c.Stats()
		if (s.Confirmed > 0 && s.Confirmed == s.Accepted) || time.Now().After(deadline) {
			break
		}
	}
	if s.Retried["queue_full"] == 0 {
		t.Fatalf("the agent never answered queue_full: %+v", s)
	}
	if s.Confirmed == 0 || s.Confirmed != s.Accepted || s.Confirmed >= n {
		t.Errorf("while the agent is full: accepted %d, confirmed %d of %d, want every accepted entry confirmed (stats %+v)", s.Accepted, s.Confirmed, n, s)
	}
	if ae := (*AgentError)(nil); !errors.As(s.LastError, &ae) || ae.Code != "queue_full" {
		t.Errorf("while the agent is full, Stats().LastError = %v, want its queue_full answer", s.LastError)
	}
	if s.Confirmed+uint64(s.Queued) != n || len(s.Dropped) != 0 || len(s.Rejected) != 0 {
		t.Fatalf("the refused batches must be kept to be sent again: confirmed %d + queued %d != %d (stats %+v)", s.Confirmed, s.Queued, n, s)
	}

	// The same agent and disk queue without the stalled output: it drains,
	// and the client's retries get through.
	r.stop()
	r.setConfig("limits:\n  max_line_bytes: 64KiB\noutputs:\n  - type: file\n")
	r.start()
	if err := c.Flush(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatalf("Flush once the agent has room: %v (stats %+v)", err, c.Stats())
	}
	ids := map[string]map[any]bool{} // payload → the agent's ids for it
	for _, e := range r.waitStored(n, 10*time.Second) {
		p, _ := e["payload"].(string)
		if ids[p] == nil {
			ids[p] = map[any]bool{}
		}
		ids[p][e["id"]] = true
	}
	twice := 0
	for i := range n {
		got := ids[fmt.Sprintf("entry %d %s", i, pad)]
		if len(got) == 0 {
			t.Fatalf("entry %d lost", i)
		}
		if len(got) > 1 {
			twice++
		}
	}
	// The agent took nothing more while full, and everything it took was
	// confirmed before the restart: nothing had to be sent again.
	if twice > 0 {
		t.Errorf("%d entries the agent had taken were sent again after the restart", twice)
	}
	if s := c.Stats(); s.Confirmed != n || s.Queued != 0 {
		t.Errorf("after the agent drained: confirmed %d, queued %d, want %d and 0", s.Confirmed, s.Queued, n)
	}
}
