package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests build the real binary and use it as a person would.

// bin is the agent built from this package; simBin is the ingestion
// simulator (cmd/logflux-ingest-sim), a command of its own.
var bin, simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lfbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "logflux-agent")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the agent: %v\n%s", err, out)
		os.Exit(1)
	}
	simBin = filepath.Join(dir, "logflux-ingest-sim")
	if out, err := exec.Command("go", "build", "-o", simBin, "../logflux-ingest-sim").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the simulator: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "integration-secret-0123456789abcdefgh"

type agentProc struct {
	cmd    *exec.Cmd
	dir    string
	sock   string
	tcp    string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { b := &syncBuffer{mu: make(chan struct{}, 1)}; return b }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startAgent runs the binary in a fresh working directory with args, and
// waits until it has started (every listener open).
func startAgent(t *testing.T, dir string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{dir: dir, sock: filepath.Join(dir, "agent.sock"), stderr: newSyncBuffer(), done: make(chan error, 1)}
	full := append([]string{"run", "--unix-path", p.sock}, args...)
	p.cmd = exec.Command(bin, full...)
	p.cmd.Dir = dir
	p.cmd.Stderr = p.stderr
	p.cmd.Env = append(os.Environ(), "LOGFLUX_AGENT_CONFIG=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	// The agent logs this line once every input listens (the Unix socket
	// answers a little earlier than the TCP one). The bound only matters
	// when the agent never starts: a -race build on a loaded machine can
	// take many seconds.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if strings.Contains(p.stderr.String(), "logflux-agent started") {
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("agent exited early: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not start:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("agent exited with %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop\n%s", p.stderr)
	}
}

func run(t *testing.T, dir string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "LOGFLUX_AGENT_ADDR=", "LOGFLUX_SHARED_SECRET=", "LOGFLUX_AGENT_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func readEntries(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("output line is not JSON: %q", sc.Text())
		}
		out = append(out, e)
	}
	return out
}

func TestDefaultsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tcp := freePort(t)
	p := startAgent(t, dir, "--tcp-address", tcp, "--shared-secret", secret)

	out, errOut, code := run(t, dir, "", "ping", "--addr", "unix://"+p.sock)
	if code != 0 || !strings.Contains(out, "pong") {
		t.Fatalf("ping: %d %q %q", code, out, errOut)
	}
	_, errOut, code = run(t, dir, "", "send", "--addr", "unix://"+p.sock, "--source", "deploy", "--level", "warning", "--meta", "env=prod", "disk", "almost", "full")
	if code != 0 || !strings.Contains(errOut, "1 accepted, 0 rejected") {
		t.Fatalf("send: %d %q", code, errOut)
	}
	ndjson := `{"payload":"over tcp","entryType":4,"source":"job","logLevel":7,"metadata":{"run":"42"}}
{"payload":"bad level","entryType":1,"source":"job","logLevel":12}
{"entries":[{"payload":"b1","entryType":1,"source":"job","logLevel":6},{"payload":"b2","entryType":1,"source":"job","logLevel":"6"}]}
`
	_, errOut, code = run(t, dir, ndjson, "send", "--addr", "tcp://"+tcp, "--secret", secret)
	if code != 1 {
		t.Fatalf("send with rejected entries exited %d, want 1: %q", code, errOut)
	}
	for _, want := range []string{"line 2: invalid_entry: logLevel must be an integer from 1 to 8", "line 3: entry 1: invalid_entry: logLevel", "2 accepted, 2 rejected"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("send output lacks %q:\n%s", want, errOut)
		}
	}
	// A raw client, as with nc -U.
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "%s\n%s\n", `{"payload":"raw","entryType":1,"source":"nc","logLevel":6,"timestamp":"2025-08-31T12:30:00+02:00"}`, `{"action":"ping"}`)
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || strings.TrimSpace(line) != `{"status":"pong"}` {
		t.Fatalf("raw client: %q %v", line, err)
	}

	p.stop(t)
	if _, err := os.Stat(p.sock); !os.IsNotExist(err) {
		t.Errorf("socket file still there after shutdown: %v", err)
	}
	entries := readEntries(t, filepath.Join(dir, "logflux-data", "entries.ndjson"))
	var payloads []string
	for _, e := range entries {
		payloads = append(payloads, e["payload"].(string))
	}
	want := []string{"disk almost full", "over tcp", "b1", "raw"}
	if strings.Join(payloads, "|") != strings.Join(want, "|") {
		t.Fatalf("payloads %q, want %q", payloads, want)
	}
	first := entries[0]
	if first["source"] != "deploy" || first["logLevel"] != 5.0 || first["metadata"].(map[string]any)["env"] != "prod" || first["id"] == "" || first["receivedAt"] == nil {
		t.Errorf("first entry %v", first)
	}
	if entries[3]["timestamp"] != "2025-08-31T10:30:00Z" {
		t.Errorf("timestamp not converted to UTC: %v", entries[3]["timestamp"])
	}
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("agent log lacks the stop:\n%s", p.stderr)
	}
}

func TestSocketFileHandling(t *testing.T) {
	dir := t.TempDir()
	p := startAgent(t, dir)
	fi, err := os.Stat(p.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	// A second agent on the same path refuses to start and leaves the first alone.
	_, errOut, code := run(t, dir, "", "run", "--unix-path", p.sock, "--data-dir", filepath.Join(dir, "other"))
	if code == 0 || !strings.Contains(errOut, "another agent is already listening") {
		t.Fatalf("second agent: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, dir, "", "ping", "--addr", p.sock); code != 0 {
		t.Fatal("first agent no longer answers")
	}
	// A kill -9 leaves a stale socket file; the next start replaces it.
	p.cmd.Process.Kill()
	<-p.done
	if _, err := os.Stat(p.sock); err != nil {
		t.Fatalf("expected a stale socket after kill -9: %v", err)
	}
	p2 := startAgent(t, dir)
	if !strings.Contains(p2.stderr.String(), "removed stale socket") {
		t.Errorf("no word of the stale socket:\n%s", p2.stderr)
	}
	p2.stop(t)
	// A regular file in the way is never removed.
	os.WriteFile(p.sock, []byte("precious"), 0o644)
	_, errOut, code = run(t, dir, "", "run", "--unix-path", p.sock)
	if code == 0 || !strings.Contains(errOut, "not a socket") {
		t.Fatalf("start over a regular file: exit %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(p.sock); string(b) != "precious" {
		t.Fatal("the agent removed a regular file")
	}
}

func TestStartRefusesUnsafeTCP(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := run(t, dir, "", "run", "--unix-path", filepath.Join(dir, "a.sock"), "--tcp-address", "127.0.0.1:0", "--shared-secret", "short")
	if code == 0 || !strings.Contains(errOut, "at least 32 characters") {
		t.Fatalf("short secret: exit %d, %q", code, errOut)
	}
	_, errOut, code = run(t, dir, "", "run", "--unix-path", filepath.Join(dir, "a.sock"), "--tcp-address", "0.0.0.0:0", "--shared-secret", secret)
	if code == 0 || !strings.Contains(errOut, "not a loopback address") {
		t.Fatalf("non-loopback: exit %d, %q", code, errOut)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte(`unix:
  path: /tmp/x.sock
tcp:
  enabled: true
  shared_secret: tooshort
queue:
  when_full: drop
outputs:
  - type: pigeon
log:
  level: loud
`), 0o644)
	_, errOut, code := run(t, dir, "", "validate", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	for _, want := range []string{
		cfg + ":5: tcp.shared_secret: must be at least 32 characters",
		cfg + ":7: queue.when_full",
		cfg + ":9: outputs[0].type: unknown output type \"pigeon\"",
		cfg + ":11: log.level",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("outputs:\n  - type: file\n    path: /tmp/x.ndjson\n  - type: stdout\n"), 0o644)
	out, errOut, code := run(t, dir, "", "validate", "--config", good)
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("good config: exit %d %q %q", code, out, errOut)
	}
	_, errOut, code = run(t, dir, "", "validate", "--config", filepath.Join(dir, "typo.yaml"))
	if code == 0 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing file: exit %d %q", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "unknown.yaml"), []byte("queue:\n  max_byte: 5MiB\n"), 0o644)
	_, errOut, code = run(t, dir, "", "validate", "--config", filepath.Join(dir, "unknown.yaml"))
	if code == 0 || !strings.Contains(errOut, "max_byte") {
		t.Fatalf("unknown key: exit %d %q", code, errOut)
	}
}

func TestShutdownDrainsAcceptedEntries(t *testing.T) {
	dir := t.TempDir()
	p := startAgent(t, dir)
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	const n = 20000
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `{"payload":"entry %d","entryType":1,"source":"load","logLevel":7}`+"\n", i)
	}
	w.WriteString(`{"action":"flush"}` + "\n")
	w.Flush()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("flush: %q %v", line, err)
	}
	c.Close()
	p.stop(t)
	entries := readEntries(t, filepath.Join(dir, "logflux-data", "entries.ndjson"))
	if len(entries) != n {
		t.Fatalf("%d entries in the file after shutdown, want %d", len(entries), n)
	}
	for i, e := range entries {
		if e["payload"] != fmt.Sprintf("entry %d", i) {
			t.Fatalf("entry %d is %v: order lost", i, e["payload"])
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, t.TempDir(), "", "version")
	if code != 0 || !strings.HasPrefix(out, "logflux-agent ") {
		t.Fatalf("version: %d %q", code, out)
	}
	_, errOut, code := run(t, t.TempDir(), "", "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

// redact-test shows what the configured rules make of NDJSON entries and
// plain lines, and which rules fired; a drop_entry rule's entry is dropped.
func TestRedactTest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(`redact:
  rules:
    - name: never
      pattern: TOPSECRET
      action: drop_entry
`), 0o600)
	in := "paid with 4111 1111 1111 1111\n" +
		`{"payload":"hi bob@example.com","entryType":1,"source":"web","logLevel":6,"metadata":{"password":"x"}}` + "\n" +
		"TOPSECRET plans\n"
	out, stderr, code := run(t, dir, in, "redact-test", "--config", "agent.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{
		`{"fired":["card"],"dropped":false,"entry":{`,
		`{"fired":["email","kv_secrets"],"dropped":false,"entry":{`,
		`{"fired":["never"],"dropped":true}`,
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to start %s", i+1, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], `"payload":"paid with [REDACTED:card]"`) || !strings.Contains(lines[1], `"password":"[REDACTED:kv_secrets]"`) {
		t.Errorf("not redacted:\n%s", out)
	}
	if strings.Contains(out, "4111") || strings.Contains(out, "bob@") {
		t.Errorf("a secret was printed:\n%s", out)
	}
}
