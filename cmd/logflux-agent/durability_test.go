package main_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKill9NeverLosesFlushedEntries streams entries with periodic flushes
// into the real agent while killing it with SIGKILL at random moments and
// restarting it, then checks that every entry whose flush was answered
// reached the file output. The queue is small (1 MiB, so 256 KiB segments):
// each run of the agent starts, fills, drains, reuses and removes segments.
// LOGFLUX_SOAK=2m runs it longer.
func TestKill9NeverLosesFlushedEntries(t *testing.T) {
	duration := 6 * time.Second
	if v := os.Getenv("LOGFLUX_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LOGFLUX_SOAK: %v", err)
		}
		duration = d
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "agent.yaml")
	// The output never rotates, so that a long soak keeps every entry to check.
	small := "limits:\n  max_line_bytes: 64KiB\nqueue:\n  max_bytes: 1MiB\n  when_full: block\n" +
		"outputs:\n  - type: file\n    path: logflux-data/entries.ndjson\n    max_size: 64GiB\n"
	if err := os.WriteFile(config, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	flushed, kills := killSoak(t, dir, duration, "--config", config, "--admin-address", "off")

	seen := map[int]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "logflux-data", "entries.ndjson*"))
	for _, f := range files {
		for _, e := range readEntries(t, f) {
			n, err := strconv.Atoi(strings.TrimPrefix(e["payload"].(string), "k-"))
			if err != nil {
				t.Fatalf("unexpected entry %v", e)
			}
			seen[n]++
		}
	}
	lost, dups, firstLost, lastLost := 0, 0, -1, -1
	for n := range flushed {
		if seen[n] == 0 {
			lost++
			if firstLost < 0 || n < firstLost {
				firstLost = n
			}
			lastLost = max(lastLost, n)
		}
	}
	for _, c := range seen {
		if c > 1 {
			dups += c - 1
		}
	}
	t.Logf("kills=%d entries_flushed=%d lost=%d duplicates=%d", kills, len(flushed), lost, dups)
	if kills == 0 || len(flushed) == 0 {
		t.Fatalf("the test did nothing: kills=%d flushed=%d", kills, len(flushed))
	}
	if lost > 0 {
		t.Fatalf("%d flushed entries were lost, numbers %d to %d", lost, firstLost, lastLost)
	}
}

// killSoak runs the agent in dir with args, streams entries "k-<n>"
// (source "kill") with a flush after every 100, and kills it with SIGKILL
// at random moments for duration, restarting it each time; then it stops
// the agent gracefully. It returns the entries whose flush was answered
// and how many times the agent was killed.
func killSoak(t *testing.T, dir string, duration time.Duration, args ...string) (map[int]bool, int) {
	p := startAgent(t, dir, args...)
	var (
		mu      sync.Mutex
		flushed = map[int]bool{} // entries whose flush was answered
	)
	sock := p.sock // the same path across restarts
	stop := make(chan struct{})
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		next := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.Dial("unix", sock)
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			r := bufio.NewReader(c)
			w := bufio.NewWriter(c)
			for {
				select {
				case <-stop:
					c.Close()
					return
				default:
				}
				first := next
				for i := 0; i < 100; i++ {
					fmt.Fprintf(w, `{"payload":"k-%d","entryType":1,"source":"kill","logLevel":7}`+"\n", next)
					next++
				}
				w.WriteString(`{"action":"flush"}` + "\n")
				if w.Flush() != nil {
					break
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, err := r.ReadString('\n')
				if err != nil {
					break // killed mid-way: these 100 are unknown, not promised
				}
				if !strings.Contains(line, `"status":"success"`) {
					t.Errorf("flush answered %q", line)
					break
				}
				mu.Lock()
				for i := first; i < next; i++ {
					flushed[i] = true
				}
				mu.Unlock()
			}
			c.Close()
		}
	}()

	kills := 0
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		kills++
		p = startAgent(t, dir, args...)
	}
	close(stop)
	<-clientDone
	p.stop(t)
	mu.Lock()
	defer mu.Unlock()
	return flushed, kills
}
