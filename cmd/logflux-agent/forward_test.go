package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestForwardToSimulator runs the real agent against the real simulator
// binary over loopback and compares every entry sent with every payload the
// simulator decrypted.
func TestForwardToSimulator(t *testing.T) {
	dir := t.TempDir()
	simAddr := freePort(t)
	simOut := filepath.Join(dir, "sim.ndjson")
	sim := exec.Command(simBin, "--listen", simAddr, "--out", simOut, "--fail", "503=0.3", "--seed", "7")
	sim.Stderr = newSyncBuffer()
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sim.Process.Kill(); sim.Wait() }()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`outputs:
  - type: logflux
    api_key: eu-lf_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6
    endpoint: http://%s
admin:
  address: ""
`, simAddr)), 0o644)
	p := startAgent(t, dir, "--config", cfg)
	const n = 300
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, `{"payload":"forwarded %d","entryType":%d,"source":"fwd","logLevel":6,"metadata":{"i":"%d"}}`+"\n", i, 1+i%5, i)
	}
	if _, errOut, code := run(t, dir, in.String(), "send", "--addr", "unix://"+p.sock); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	deadline := time.Now().Add(60 * time.Second)
	var got []map[string]any
	for time.Now().Before(deadline) {
		if _, err := os.Stat(simOut); err == nil {
			got = readEntries(t, simOut)
			if len(got) >= n {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(t)
	ids := map[string]bool{}
	var texts []string
	for _, e := range got {
		meta, _ := e["meta"].(map[string]any)
		id, _ := meta["id"].(string)
		if ids[id] {
			continue // a duplicate the delivery rules allow; recognised by meta.id
		}
		ids[id] = true
		attrs, _ := e["attributes"].(map[string]any)
		var text string
		for _, k := range []string{"message", "event", "action", "name", "operation"} {
			if s, ok := e[k].(string); ok {
				text = s
				break
			}
		}
		texts = append(texts, fmt.Sprintf("%s|%v", text, attrs["i"]))
	}
	if len(texts) != n {
		t.Fatalf("the simulator decrypted %d distinct entries, want %d", len(texts), n)
	}
	sort.Strings(texts)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("forwarded %d|%d", i, i)
	}
	sort.Strings(want)
	for i := range want {
		if texts[i] != want[i] {
			t.Fatalf("entry %d: got %q, want %q", i, texts[i], want[i])
		}
	}
}

// TestDeadLetterListAndReplay: the simulator reports every entry failed, so
// after its retries the agent moves them to the dead-letter store; dlq list
// shows them while the agent runs and after, and with the agent stopped dlq
// replay sends them to the file output.
func TestDeadLetterListAndReplay(t *testing.T) {
	dir := t.TempDir()
	simAddr := freePort(t)
	sim := exec.Command(simBin, "--listen", simAddr, "--part-failure-rate", "1")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sim.Process.Kill(); sim.Wait() }()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`outputs:
  - type: logflux
    api_key: eu-lf_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6
    endpoint: http://%s
  - type: file
    name: archive
    path: %s
admin:
  address: ""
`, simAddr, filepath.Join(dir, "archive.ndjson"))), 0o644)
	p := startAgent(t, dir, "--config", cfg)
	if _, errOut, code := run(t, dir, "", "send", "--addr", "unix://"+p.sock, "refused by the cloud"); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "refused") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// dlq list reads the store while the agent runs and keeps it locked.
	var out, errOut string
	var code int
	for {
		out, errOut, code = run(t, dir, "", "dlq", "list", "--config", cfg)
		if code != 0 || strings.Contains(out, "refused by the cloud") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "refused by the cloud") || !strings.Contains(errOut, "1 entries") {
		t.Fatalf("dlq list while the agent runs: %d\n%s\n%s", code, out, errOut)
	}
	// Replaying changes the store, which is the running agent's.
	if _, errOut, code := run(t, dir, "", "dlq", "replay", "--config", cfg); code == 0 || !strings.Contains(errOut, "Stop the agent first") {
		t.Fatalf("dlq replay while the agent runs: %d %s", code, errOut)
	}
	p.stop(t)
	out, errOut, code = run(t, dir, "", "dlq", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "refused by the cloud") || !strings.Contains(out, "logflux") || !strings.Contains(errOut, "1 entries") {
		t.Fatalf("dlq list: %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = run(t, dir, "", "dlq", "replay", "--config", cfg, "--output", "archive")
	if code != 0 || !strings.Contains(errOut, "1 entries replayed") {
		t.Fatalf("dlq replay: %d %s", code, errOut)
	}
	archive := readEntries(t, filepath.Join(dir, "archive.ndjson"))
	if len(archive) != 2 || archive[1]["payload"] != "refused by the cloud" {
		t.Fatalf("archive after replay: %v", archive)
	}
	out, _, _ = run(t, dir, "", "dlq", "list", "--config", cfg)
	if strings.TrimSpace(out) != "" {
		t.Fatalf("the store still lists entries after the replay: %s", out)
	}
}
