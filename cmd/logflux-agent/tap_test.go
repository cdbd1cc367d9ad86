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

// startTapAgent runs the agent with its admin server on a free loopback port
// and extra configuration; it returns the agent and the admin address.
func startTapAgent(t *testing.T, extra string) (*agentProc, string) {
	t.Helper()
	dir := t.TempDir()
	admin := freePort(t)
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("admin:\n  address: %s\n%s", admin, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return startAgent(t, dir, "--config", cfg), admin
}

// startTap runs `logflux-agent tap` and waits until it is attached.
func startTap(t *testing.T, admin string, args ...string) (cmd *exec.Cmd, stdout, stderr *syncBuffer, done chan error) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"tap", "--admin-address", admin}, args...)...)
	stdout, stderr, done = newSyncBuffer(), newSyncBuffer(), make(chan error, 1)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "attached to") {
		select {
		case err := <-done:
			t.Fatalf("tap exited before attaching: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap did not attach:\n%s", stderr)
		}
	}
	return cmd, stdout, stderr, done
}

// TestTapFilters: a tap shows exactly the entries its filters choose, in
// order, and stops at --limit; the readable format is one line an entry.
func TestTapFilters(t *testing.T) {
	p, admin := startTapAgent(t, "")
	_, out, errb, done := startTap(t, admin, "--json", "--source", "web*", "--level", "error", "--type", "log,audit", "--limit", "3")
	_, human, _, humanDone := startTap(t, admin, "--source", "db", "--limit", "1")
	lines := []string{
		`{"payload":"p1 wrong source","entryType":1,"source":"db","logLevel":3,"metadata":{"k":"v"}}`,
		`{"payload":"p2 yes","entryType":1,"source":"web-1","logLevel":4}`,
		`{"payload":"p3 too verbose","entryType":1,"source":"web-1","logLevel":5}`,
		`{"payload":"p4 wrong type","entryType":2,"source":"web-2","logLevel":1}`,
		`{"payload":"p5 yes","entryType":5,"source":"web-2","logLevel":1}`,
		`{"entries":[{"payload":"p6 yes","entryType":1,"source":"webhook","logLevel":2},{"payload":"p7 over the limit","entryType":1,"source":"web-1","logLevel":2}]}`,
	}
	_, errOut, code := run(t, p.dir, strings.Join(lines, "\n")+"\n", "send", "--addr", "unix://"+p.sock)
	if code != 0 {
		t.Fatalf("send: %d %s", code, errOut)
	}
	for _, d := range []chan error{done, humanDone} {
		select {
		case err := <-d:
			if err != nil {
				t.Fatalf("tap exited with %v: %s", err, errb)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("tap did not stop at its limit; it printed:\n%s", out)
		}
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			Payload, ID, ReceivedAt string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.ID == "" || r.ReceivedAt == "" {
			t.Fatalf("tap --json printed %q, not a normalised record", l)
		}
		got = append(got, r.Payload)
	}
	if want := []string{"p2 yes", "p5 yes", "p6 yes"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tap showed %q, want %q", got, want)
	}
	if !strings.Contains(errb.String(), "3 entries shown, 0 lost") {
		t.Errorf("tap's summary: %s", errb)
	}
	h := strings.TrimSpace(human.String())
	if strings.Count(h, "\n") != 0 || !strings.Contains(h, " CRIT   db p1 wrong source k=v") {
		t.Errorf("readable tap line: %q", h)
	}
}

// TestTapRefusals: admin.tap: false refuses everyone; bad filters and an
// unknown output are refused with the reason.
func TestTapRefusals(t *testing.T) {
	_, admin := startTapAgent(t, "  tap: false\n")
	_, errOut, code := run(t, t.TempDir(), "", "tap", "--admin-address", admin)
	if code != 1 || !strings.Contains(errOut, "403 Forbidden") || !strings.Contains(errOut, "admin.tap: false") {
		t.Errorf("tap with admin.tap false: exit %d, %q", code, errOut)
	}

	_, admin = startTapAgent(t, "")
	_, errOut, code = run(t, t.TempDir(), "", "tap", "--admin-address", admin, "--output", "nosuch")
	if code != 1 || !strings.Contains(errOut, `output "nosuch": there is no such output (the outputs are file)`) {
		t.Errorf("tap --output nosuch: exit %d, %q", code, errOut)
	}
	code, body := httpGet(t, "http://"+admin+"/tap?source=%5B&min_level=9&sample=2")
	var answer struct{ Error string }
	json.Unmarshal([]byte(body), &answer)
	for _, want := range []string{`source "[": syntax error`, `min_level "9"`, `sample "2"`} {
		if code != 400 || !strings.Contains(answer.Error, want) {
			t.Errorf("GET /tap with bad filters: %d %s (want 400 naming %s)", code, body, want)
		}
	}
}

// TestSlowTapLosesOnlyItsOwnEntries: a tap that reads nothing while a load
// runs loses entries of its own and says how many; the agent accepts and
// delivers every entry. The load's rate with and without the stuck tap is
// logged (measured, not asserted: the machine is shared).
func TestSlowTapLosesOnlyItsOwnEntries(t *testing.T) {
	p, admin := startTapAgent(t, "")
	// 30,000 entries of 400 bytes: several times what the tap's buffer and
	// the sockets between hold, and sent well within the minute after which
	// the agent ends a stream nobody reads.
	const n = 30000
	var load bytes.Buffer
	for i := range n {
		fmt.Fprintf(&load, `{"payload":"load entry %06d %s","entryType":1,"source":"load","logLevel":6}`+"\n", i, strings.Repeat("x", 300))
	}
	send := func() time.Duration {
		start := time.Now()
		_, errOut, code := run(t, p.dir, load.String(), "send", "--addr", "unix://"+p.sock)
		if code != 0 || !strings.Contains(errOut, fmt.Sprintf("%d accepted, 0 rejected", n)) {
			t.Fatalf("send: %d %s", code, errOut)
		}
		return time.Since(start)
	}
	without := send()

	// A tap client with a small receive buffer that reads its first line
	// and then nothing while the load runs.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /tap HTTP/1.1\r\nHost: %s\r\n\r\n", admin)
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the tap's answer: %v", err)
		}
		if strings.Contains(l, `{"tap":`) {
			break // attached
		}
	}
	with := send()
	t.Logf("%d entries sent in %s without a tap (%.0f entries/s), %s with a stuck tap (%.0f entries/s)",
		n, without.Round(time.Millisecond), n/without.Seconds(), with.Round(time.Millisecond), n/with.Seconds())

	// Now read the stream: the tap's notice counts what it lost.
	var dropped int64
	var shown int
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for dropped == 0 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the tap never reported a loss (%d lines shown): %v", shown, err)
		}
		if !strings.Contains(l, `{"tap":`) {
			shown++
			continue
		}
		var nt struct{ Tap struct{ Dropped int64 } }
		json.Unmarshal([]byte(l[strings.Index(l, "{"):]), &nt)
		dropped = nt.Tap.Dropped
	}
	t.Logf("the stuck tap lost %d of %d entries", dropped, n)
	if dropped <= 0 || dropped > n {
		t.Errorf("the tap reports %d entries lost", dropped)
	}
	p.stop(t)
	entries := readEntries(t, filepath.Join(p.dir, "logflux-data", "entries.ndjson"))
	if len(entries) != 2*n {
		t.Fatalf("the file output holds %d entries, want %d: the agent lost entries to a slow tap", len(entries), 2*n)
	}
}
