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

// TestKill9DeliversEachFlushedEntryExactlyOnce streams entries, alone and
// in batches, each group followed by a flush, into the real agent while
// killing it with SIGKILL at random moments and restarting it, then checks
// that every entry whose flush was answered is in the file output, and that
// no entry is there twice. The queue is small (1 MiB, so 256 KiB segments):
// each run of the agent starts, fills, drains, reuses and removes segments.
// The output rotates every 256 KiB, so crashes also fall around rotations.
// It kills at least 20 times; LOGFLUX_SOAK=2m runs it (at least) that long.
func TestKill9DeliversEachFlushedEntryExactlyOnce(t *testing.T) {
	const minKills, maxFiles = 20, 4000
	duration := time.Duration(0)
	if v := os.Getenv("LOGFLUX_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LOGFLUX_SOAK: %v", err)
		}
		duration = d
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "agent.yaml")
	small := fmt.Sprintf("limits:\n  max_line_bytes: 64KiB\nqueue:\n  max_bytes: 1MiB\n  when_full: block\n"+
		"outputs:\n  - type: file\n    path: logflux-data/entries.ndjson\n    max_size: 256KiB\n    max_files: %d\n", maxFiles)
	if err := os.WriteFile(config, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", config, "--admin-address", "off"}
	res := killSoak(t, dir, duration, minKills, args...)
	flushed, kills, sent, batches := res.flushed, res.kills, res.sent, res.batches

	seen := map[int]int{}
	ids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "logflux-data", "entries.ndjson*"))
	for _, f := range files {
		for _, e := range readEntries(t, f) {
			n, err := strconv.Atoi(strings.TrimPrefix(e["payload"].(string), "k-"))
			if err != nil {
				t.Fatalf("unexpected entry %v", e)
			}
			seen[n]++
			id, _ := e["id"].(string)
			ids[id]++
		}
	}
	lost, firstLost, lastLost := 0, -1, -1
	for n := range flushed {
		if seen[n] == 0 {
			lost++
			if firstLost < 0 || n < firstLost {
				firstLost = n
			}
			lastLost = max(lastLost, n)
		}
	}
	dups, dupIDs, example := 0, 0, -1
	for n, c := range seen {
		if c > 1 {
			dups += c - 1
			example = n
		}
	}
	for _, c := range ids {
		dupIDs += max(c-1, 0)
	}
	t.Logf("kills=%d entries_flushed=%d (%d groups as batches) entries_sent=%d files=%d lost=%d duplicates=%d duplicate_ids=%d",
		kills, len(flushed), batches, sent, len(files), lost, dups, dupIDs)
	if kills < minKills || len(flushed) == 0 || batches == 0 || batches*100 == len(flushed) {
		t.Fatalf("the test did not do what it is for: kills=%d flushed=%d batches=%d", kills, len(flushed), batches)
	}
	if len(files) < 2 || len(files) > maxFiles {
		t.Fatalf("%d output files: the soak is to rotate, and to keep every file", len(files))
	}
	if lost > 0 {
		t.Errorf("%d flushed entries were lost, numbers %d to %d", lost, firstLost, lastLost)
	}
	if dups > 0 || dupIDs > 0 {
		t.Errorf("%d entries were written more than once (e.g. k-%d), %d ids more than once", dups, example, dupIDs)
	}
}

// soakResult is what killSoak saw.
type soakResult struct {
	flushed map[int]bool // entries whose flush was answered
	kills   int
	sent    int // entries sent up to the last answered flush
	batches int // groups sent as one batch message
}

// killSoak runs the agent in dir with args and streams entries "k-<n>"
// (source "kill") in groups of 100, each sent alone or as one batch message
// and followed by a flush, while it kills the agent with SIGKILL at random
// moments, at least minKills times and for at least duration, restarting it
// each time; then it stops the agent gracefully. The first kill may come
// right after the very first start: the file output records where it
// starts before it writes (internal/output/file), so that is exact too.
func killSoak(t *testing.T, dir string, duration time.Duration, minKills int, args ...string) soakResult {
	p := startAgent(t, dir, args...)
	var (
		mu      sync.Mutex
		flushed = map[int]bool{} // entries whose flush was answered
		sent    int
		batches int // groups sent as one batch message
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
				batch := rand.IntN(2) == 0
				if batch {
					w.WriteString(`{"version":"1.0","entries":[`)
				}
				for i := 0; i < 100; i++ {
					entry := fmt.Sprintf(`{"payload":"k-%d","entryType":1,"source":"kill","logLevel":7}`, next)
					switch {
					case !batch:
						w.WriteString(entry + "\n")
					case i > 0:
						w.WriteString("," + entry)
					default:
						w.WriteString(entry)
					}
					next++
				}
				if batch {
					w.WriteString("]}\n")
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
				sent = next
				if batch {
					batches++
				}
				mu.Unlock()
			}
			c.Close()
		}
	}()

	kills := 0
	deadline := time.Now().Add(duration)
	for kills < minKills || time.Now().Before(deadline) {
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
	return soakResult{flushed: flushed, kills: kills, sent: sent, batches: batches}
}
