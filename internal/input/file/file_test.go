package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/record"
	"github.com/logflux/agent/internal/redact"
)

// harness runs a file input over a real memory queue and drains it.
type harness struct {
	t    *testing.T
	dir  string // where the logs are
	data string // the data dir
	q    *queue.Memory
	in   *Input
	mu   sync.Mutex
	got  []record.Entry
	stop context.CancelFunc
	done chan struct{}
	// filter is handed to the input as the agent's redaction rules.
	filter component.EntryFilter
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	return newHarnessWith(t, edit, nil)
}

func newHarnessFiltered(t *testing.T, f component.EntryFilter) *harness {
	t.Helper()
	return newHarnessWith(t, nil, f)
}

func newHarnessWith(t *testing.T, edit func(*Config), f component.EntryFilter) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), data: t.TempDir(), filter: f}
	h.q = queue.NewMemory(64<<20, queue.Block)
	rd, err := h.q.Reader("test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		for {
			recs, err := rd.Next(ctx, 1000, 8<<20)
			if err != nil {
				return
			}
			h.mu.Lock()
			for _, r := range recs {
				e, err := record.Parse(r)
				if err != nil {
					t.Errorf("record: %v", err)
				}
				h.got = append(h.got, e)
			}
			h.mu.Unlock()
			rd.Commit()
		}
	}()
	t.Cleanup(func() {
		h.shutdown()
		cancel()
		<-h.done
	})
	h.start(edit)
	return h
}

func (h *harness) config(edit func(*Config)) *Config {
	c := defaultConfig()
	c.Include = []string{filepath.Join(h.dir, "*.log")}
	c.StartAt = "beginning"
	c.PollInterval = 20 * time.Millisecond
	c.RotateWait = 200 * time.Millisecond
	c.Finish(component.Env{DataDir: h.data, Getenv: os.Getenv})
	if edit != nil {
		edit(c)
	}
	if err := c.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) start(edit func(*Config)) {
	h.t.Helper()
	in, err := Factory{}.New(h.config(edit), component.Settings{Name: "files", DataDir: h.data, MaxAppendBytes: 256 << 10, Filter: h.filter})
	if err != nil {
		h.t.Fatal(err)
	}
	h.in = in.(*Input)
	if err := h.in.Start(context.Background(), h.q); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) shutdown() {
	if h.in != nil {
		h.in.Shutdown(context.Background())
		h.in = nil
	}
}

func (h *harness) restart(edit func(*Config)) {
	h.shutdown()
	h.start(edit)
}

// payloads waits until n entries arrived (or fails) and returns them all.
func (h *harness) wait(n int) []record.Entry {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		got := append([]record.Entry(nil), h.got...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("got %d entries, want %d: %v", len(got), n, payloads(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits a few polls more and returns everything (to see extras).
func (h *harness) settle(n int) []record.Entry {
	h.t.Helper()
	h.wait(n)
	time.Sleep(300 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record.Entry(nil), h.got...)
}

func payloads(es []record.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Payload
	}
	return out
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func lines(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%d\n", prefix, i)
	}
	return b.String()
}

// exactly checks that the payloads are prefix-from..to-1, each once, in order.
func exactly(t *testing.T, got []record.Entry, prefix string, from, to int) {
	t.Helper()
	var want []string
	for i := from; i < to; i++ {
		want = append(want, fmt.Sprintf("%s-%d", prefix, i))
	}
	if p := payloads(got); strings.Join(p, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d entries %v\nwant %d %v", len(p), short(p), len(want), short(want))
	}
}

func short(s []string) []string {
	if len(s) > 12 {
		return append(append(s[:6:6], "…"), s[len(s)-6:]...)
	}
	return s
}

func TestLinesWithMetadataAndDefaults(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, "first\r\n\nsecond\n")
	got := h.settle(2)
	exactly(t, got[:0], "", 0, 0)
	if len(got) != 2 || got[0].Payload != "first" || got[1].Payload != "second" {
		t.Fatalf("got %v", payloads(got))
	}
	e := got[0]
	if e.Source != "app.log" || e.LogLevel != 7 || e.EntryType != 1 || e.Input != "files" || e.Metadata["file.path"] != p || e.PayloadType != "generic" {
		t.Errorf("entry %+v", e)
	}
	if n := h.in.c.emptyLines.Load(); n != 1 {
		t.Errorf("empty lines counted %d, want 1", n)
	}
}

// TestRedactedBeforeQueued: the agent's redaction rules apply to the lines
// a file input reads, before they reach the queue.
func TestRedactedBeforeQueued(t *testing.T) {
	live := redact.NewLive()
	r, err := live.Compile(&redact.Config{})
	if err != nil {
		t.Fatal(err)
	}
	live.Set(r)
	h := newHarnessFiltered(t, live)
	appendFile(t, filepath.Join(h.dir, "app.log"), "login by ana@example.com failed\nnothing to hide\n")
	got := h.settle(2)
	if len(got) != 2 || strings.Contains(got[0].Payload, "ana@example.com") || !strings.Contains(got[0].Payload, "[REDACTED:email]") || got[0].Metadata["redacted"] != "email" {
		t.Fatalf("queued %+v", got)
	}
	if got[1].Payload != "nothing to hide" || got[1].Metadata["redacted"] != "" {
		t.Errorf("a clean line was changed: %+v", got[1])
	}
}

func TestRenameRotationLosesAndRepeatsNothing(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("l", 0, 100))
	h.wait(100)
	appendFile(t, p, lines("l", 100, 150)) // written, maybe not read yet, before the rename
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p+".1", lines("l", 150, 160)) // the writer still holds the old file
	appendFile(t, p, lines("l", 160, 200))
	got := h.settle(200)
	if len(got) != 200 {
		t.Fatalf("%d entries, want 200: %v", len(got), short(payloads(got)))
	}
	seen := map[string]int{}
	for _, e := range got {
		seen[e.Payload]++
	}
	for i := 0; i < 200; i++ {
		if n := seen[fmt.Sprintf("l-%d", i)]; n != 1 {
			t.Fatalf("l-%d delivered %d times", i, n)
		}
	}
}

func TestRestartResumesAndFindsRenamedFile(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("l", 0, 50))
	h.wait(50)
	h.shutdown()
	// While the agent is stopped: more lines, then a rename to a name the
	// glob does not match, and a new file.
	appendFile(t, p, lines("l", 50, 80))
	if err := os.Rename(p, filepath.Join(h.dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, lines("l", 80, 100))
	h.start(nil)
	got := h.settle(100)
	exactly(t, got, "l", 0, 100) // the rotated file is finished first
}

func TestStartAtEndOnlyAtFirstStart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "old.log")
	appendFile(t, p, lines("before", 0, 10))
	h := newHarnessIn(t, dir, func(c *Config) { c.StartAt = "end" })
	// Start returns before the first look at the files, which decides what
	// "present at the first start" means: write only after it has happened
	// (old.log is then followed), or a slow machine counts these lines too.
	deadline := time.Now().Add(30 * time.Second)
	for h.in.Status().Figures["files_watched"] < 1 {
		if time.Now().After(deadline) {
			t.Fatal("old.log not followed after 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	appendFile(t, p, lines("after", 0, 5))
	appendFile(t, filepath.Join(dir, "new.log"), lines("new", 0, 3)) // appeared later: from its start
	got := h.settle(8)
	if len(got) != 8 {
		t.Fatalf("got %v", payloads(got))
	}
	h.shutdown()
	appendFile(t, p, lines("down", 0, 4)) // written while stopped: not skipped
	h.start(func(c *Config) { c.StartAt = "end" })
	got = h.settle(12)
	exactly(t, got[8:], "down", 0, 4)
}

func newHarnessIn(t *testing.T, dir string, edit func(*Config)) *harness {
	return newHarness(t, func(c *Config) {
		c.Include = []string{filepath.Join(dir, "*.log")}
		if edit != nil {
			edit(c)
		}
	})
}

func TestCopytruncateReadsTheRestFromTheCopy(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FingerprintBytes = 64 })
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("l", 0, 100))
	h.wait(100)
	h.shutdown() // so that lines are surely unread at the truncation
	appendFile(t, p, lines("l", 100, 130))
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, lines("n", 0, 10))
	h.start(func(c *Config) { c.FingerprintBytes = 64 })
	got := h.settle(140)
	exactly(t, got[:130], "l", 0, 130)
	exactly(t, got[130:], "n", 0, 10)
}

func TestCopytruncateWhileRunning(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FingerprintBytes = 64 })
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("l", 0, 100))
	h.wait(100)
	appendFile(t, p, lines("l", 100, 130))
	data, _ := os.ReadFile(p)
	os.WriteFile(p+".1", data, 0o644) // outside the glob
	os.Truncate(p, 0)
	appendFile(t, p, lines("n", 0, 10))
	got := h.settle(140)
	if len(got) != 140 {
		t.Fatalf("%d entries: %v", len(got), short(payloads(got)))
	}
}

func TestTruncationStartsOver(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("l", 0, 20))
	h.wait(20)
	os.Truncate(p, 0)
	time.Sleep(100 * time.Millisecond)
	// Written again past the old offset between two polls.
	appendFile(t, p, lines("again-longer", 0, 40))
	got := h.settle(60)
	exactly(t, got[20:], "again-longer", 0, 40)
	if h.in.c.truncations.Load() != 1 {
		t.Errorf("truncations %d, want 1", h.in.c.truncations.Load())
	}
}

func TestDeletedWhileOpenIsReadToItsEnd(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	defer f.Close()
	f.WriteString(lines("l", 0, 10))
	h.wait(10)
	os.Remove(p)
	f.WriteString(lines("l", 10, 20)) // still written after the unlink
	got := h.settle(20)
	exactly(t, got, "l", 0, 20)
	deadline := time.Now().Add(5 * time.Second)
	for h.in.c.rotations.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h.in.c.filesWatched.Load() != 0 {
		t.Errorf("a deleted file is still followed after rotate_wait")
	}
}

func TestReappearingFileIsReadFromItsStart(t *testing.T) {
	h := newHarness(t, nil)
	p := filepath.Join(h.dir, "app.log")
	appendFile(t, p, lines("a", 0, 5))
	h.wait(5)
	os.Remove(p)
	time.Sleep(400 * time.Millisecond)
	appendFile(t, p, lines("b", 0, 5))
	got := h.settle(10)
	exactly(t, got[5:], "b", 0, 5)
}

func TestSymlinkIsFollowed(t *testing.T) {
	h := newHarness(t, nil)
	target := filepath.Join(t.TempDir(), "real.txt")
	appendFile(t, target, lines("s", 0, 3))
	os.Symlink(target, filepath.Join(h.dir, "link.log"))
	got := h.settle(3)
	exactly(t, got, "s", 0, 3)
}

func TestMaxOpenFilesReadsEveryFileInTurns(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOpenFiles = 3 })
	for i := 0; i < 20; i++ {
		appendFile(t, filepath.Join(h.dir, fmt.Sprintf("f%02d.log", i)), lines(fmt.Sprintf("f%02d", i), 0, 5))
	}
	h.wait(100)
	for i := 0; i < 20; i++ {
		appendFile(t, filepath.Join(h.dir, fmt.Sprintf("f%02d.log", i)), lines(fmt.Sprintf("f%02d", i), 5, 10))
	}
	got := h.settle(200)
	if len(got) != 200 {
		t.Fatalf("%d entries, want 200", len(got))
	}
	if n := h.in.c.filesOpen.Load(); n > 3 {
		t.Errorf("%d files open, limit 3", n)
	}
}

func TestLongLinesSplitOrTruncated(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, mode := range []string{"split", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxLineBytes = 40; c.LongLines = mode })
			appendFile(t, filepath.Join(h.dir, "a.log"), long+"\nshort\n")
			if mode == "split" {
				got := h.settle(4)
				if len(got) != 4 || got[0].Payload+got[1].Payload+got[2].Payload != long || got[3].Payload != "short" {
					t.Fatalf("got %v", payloads(got))
				}
				if got[0].Metadata["file.part"] != "1" || got[2].Metadata["file.part"] != "3" || got[2].Metadata["file.last_part"] != "true" {
					t.Errorf("part markers %v %v", got[0].Metadata, got[2].Metadata)
				}
				return
			}
			got := h.settle(2)
			if len(got) != 2 || got[0].Payload != long[:40] || got[0].Metadata["file.truncated_from"] != "100" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestBinaryAndInvalidUTF8(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, filepath.Join(h.dir, "bin.log"), "ok\xff\xfe\x00end\n\x01\x02\x03\n")
	got := h.settle(2)
	if got[0].Payload != "ok\uFFFD\uFFFD\x00end" || got[1].Payload != "\x01\x02\x03" {
		t.Fatalf("got %q", payloads(got))
	}
	if h.in.c.invalidUTF8.Load() != 1 {
		t.Errorf("invalid UTF-8 counted %d", h.in.c.invalidUTF8.Load())
	}
}

func TestMultiline(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Multiline = Multiline{StartPattern: `^\d{4}-`, Timeout: 100 * time.Millisecond, MaxLines: 10}
	})
	appendFile(t, filepath.Join(h.dir, "a.log"), "2025-01-01 boom\n  at a()\n  at b()\n2025-01-01 next\n")
	got := h.settle(2) // the last one after the timeout
	if len(got) != 2 || got[0].Payload != "2025-01-01 boom\n  at a()\n  at b()" || got[1].Payload != "2025-01-01 next" {
		t.Fatalf("got %q", payloads(got))
	}
}

func TestJSONLevelField(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Format = FormatJSON; c.LevelField = "level" })
	appendFile(t, filepath.Join(h.dir, "a.log"), `{"level":"error","msg":"x"}`+"\n"+`not json`+"\n")
	got := h.settle(2)
	if got[0].LogLevel != 4 || got[0].PayloadType != "generic_json" || got[1].PayloadType != "generic" {
		t.Fatalf("got %+v", got)
	}
}

func TestDockerPartialsJoinedByteExact(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Format = FormatDocker
		c.StderrLevel = 4
		c.Include = []string{filepath.Join(filepath.Dir(c.Include[0]), "containers", "*", "*-json.log")}
	})
	id := "0123456789abcdef"
	dir := filepath.Join(h.dir, "containers", id)
	os.MkdirAll(dir, 0o755)
	// A 40 KiB line with "quotes", tabs and UTF-8, split as Docker does at
	// 16 KiB, interleaved with a stderr line.
	var big bytes.Buffer
	for big.Len() < 40<<10 {
		big.WriteString("é\t\"q\"  ") // 8 bytes: Docker's 16 KiB cuts fall between characters
	}
	msg := big.String()
	var file bytes.Buffer
	pieces := []string{msg[:16<<10], msg[16<<10 : 32<<10], msg[32<<10:] + "\n"}
	for _, p := range pieces {
		b, _ := json.Marshal(dockerLine{Log: p, Stream: "stdout", Time: "2025-01-02T03:04:05.123456789Z"})
		file.Write(append(b, '\n'))
	}
	fmt.Fprintf(&file, `{"log":"oops\n","stream":"stderr","time":"2025-01-02T03:04:06Z"}`+"\n")
	os.WriteFile(filepath.Join(dir, id+"-json.log"), file.Bytes(), 0o644)
	got := h.settle(2)
	if len(got) != 2 {
		t.Fatalf("got %d entries", len(got))
	}
	if got[0].Payload != msg {
		t.Fatalf("the joined line differs from the one written (%d vs %d bytes)", len(got[0].Payload), len(msg))
	}
	if got[0].Timestamp != "2025-01-02T03:04:05.123456789Z" || got[0].Metadata["stream"] != "stdout" || got[0].Metadata["container.id"] != id || got[0].PayloadType != "container" {
		t.Errorf("entry %+v", got[0].Metadata)
	}
	if got[1].Payload != "oops" || got[1].LogLevel != 4 {
		t.Errorf("stderr entry %+v", got[1])
	}
}

func TestCRIPartialsAndKubeletPath(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Format = FormatCRI
		c.Include = []string{filepath.Join(filepath.Dir(c.Include[0]), "pods", "*", "*", "*.log")}
	})
	dir := filepath.Join(h.dir, "pods", "shop_web-7d4b_1a2b-3c4d", "nginx")
	os.MkdirAll(dir, 0o755)
	content := "2025-01-02T03:04:05.000000001Z stdout P part one \n" +
		"2025-01-02T03:04:05.000000002Z stdout P part two \n" +
		"2025-01-02T03:04:05.000000003Z stdout F end\n" +
		"2025-01-02T03:04:06Z stderr F \n" +
		"2025-01-02T03:04:07Z stderr F after empty\n"
	os.WriteFile(filepath.Join(dir, "0.log"), []byte(content), 0o644)
	got := h.settle(2)
	if len(got) != 2 || got[0].Payload != "part one part two end" || got[1].Payload != "after empty" {
		t.Fatalf("got %q", payloads(got))
	}
	m := got[0].Metadata
	if m["k8s.namespace"] != "shop" || m["k8s.pod"] != "web-7d4b" || m["k8s.container"] != "nginx" || m["stream"] != "stdout" || got[0].Timestamp != "2025-01-02T03:04:05.000000001Z" {
		t.Errorf("metadata %v ts %s", m, got[0].Timestamp)
	}
}

func TestKubeletRotationThroughSymlink(t *testing.T) {
	// /var/log/containers/<pod>_<ns>_<container>-<id>.log → /var/log/pods/…/0.log,
	// rotated by the kubelet to 0.log.<timestamp> and a new 0.log.
	h := newHarness(t, func(c *Config) {
		c.Format = FormatCRI
		c.Include = []string{filepath.Join(filepath.Dir(c.Include[0]), "containers", "*.log")}
	})
	pods := filepath.Join(h.dir, "pods", "ns_pod_uid", "c")
	conts := filepath.Join(h.dir, "containers")
	os.MkdirAll(pods, 0o755)
	os.MkdirAll(conts, 0o755)
	cri := func(prefix string, from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "2025-01-02T03:04:05Z stdout F %s-%d\n", prefix, i)
		}
		return b.String()
	}
	appendFile(t, filepath.Join(pods, "0.log"), cri("k", 0, 30))
	os.Symlink(filepath.Join(pods, "0.log"), filepath.Join(conts, "pod_ns_c-abc123.log"))
	h.wait(30)
	appendFile(t, filepath.Join(pods, "0.log"), cri("k", 30, 40))
	os.Rename(filepath.Join(pods, "0.log"), filepath.Join(pods, "0.log.20250102-030405"))
	appendFile(t, filepath.Join(pods, "0.log"), cri("k", 40, 60))
	got := h.settle(60)
	exactly(t, got, "k", 0, 60)
	if m := got[0].Metadata; m["k8s.pod"] != "pod" || m["k8s.namespace"] != "ns" || m["k8s.container"] != "c" || m["container.id"] != "abc123" {
		t.Errorf("metadata %v", m)
	}
}

func TestDirectoryThatDisappears(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Include = []string{filepath.Join(filepath.Dir(c.Include[0]), "sub", "*.log")} })
	sub := filepath.Join(h.dir, "sub")
	os.MkdirAll(sub, 0o755)
	appendFile(t, filepath.Join(sub, "a.log"), lines("a", 0, 5))
	h.wait(5)
	os.RemoveAll(sub)
	time.Sleep(400 * time.Millisecond)
	os.MkdirAll(sub, 0o755)
	appendFile(t, filepath.Join(sub, "a.log"), lines("b", 0, 5))
	got := h.settle(10)
	exactly(t, got[5:], "b", 0, 5)
}

func TestManyFilesInOneGlob(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 files")
	}
	h := newHarness(t, func(c *Config) { c.MaxOpenFiles = 64; c.PollInterval = 100 * time.Millisecond })
	h.shutdown()
	for i := 0; i < 10000; i++ {
		os.WriteFile(filepath.Join(h.dir, fmt.Sprintf("f%05d.log", i)), []byte(fmt.Sprintf("line-%d\n", i)), 0o644)
	}
	h.start(func(c *Config) { c.MaxOpenFiles = 64; c.PollInterval = 100 * time.Millisecond })
	deadline := time.Now().Add(60 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.got)
		h.mu.Unlock()
		if n >= 10000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := h.settle(10000)
	if len(got) != 10000 {
		t.Fatalf("%d entries, want 10000", len(got))
	}
	if n := h.in.c.filesOpen.Load(); n > 64 {
		t.Errorf("%d files open, limit 64", n)
	}
}

func TestConfigProblems(t *testing.T) {
	c := defaultConfig()
	c.Include = []string{"relative/*.log", "/x/[.log"}
	c.Format = "xml"
	c.MaxLineBytes = 2 << 20
	c.StartAt = "middle"
	c.Multiline.StartPattern = "("
	err := c.Validate()
	for _, want := range []string{"include[0]", "include[1]", "format", "max_line_bytes", "start_at", "multiline.start_pattern"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem with %s", err, want)
		}
	}
}

// TestHugeLineIsNeverHeldWhole writes one 64 MiB line (1 GiB behaves the
// same, only slower) and checks that it is cut to max_line_bytes and that
// reading it allocated much less than the line itself.
func TestHugeLineIsNeverHeldWhole(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LongLines = "truncate" })
	p := filepath.Join(h.dir, "huge.log")
	f, _ := os.Create(p)
	chunk := bytes.Repeat([]byte("y"), 1<<20)
	for i := 0; i < 64; i++ {
		f.Write(chunk)
	}
	f.WriteString("\nafter\n")
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := h.settle(2)
	runtime.ReadMemStats(&after)
	if len(got) != 2 || len(got[0].Payload) != 1<<20 || got[0].Metadata["file.truncated_from"] != strconv.Itoa(64<<20) || got[1].Payload != "after" {
		t.Fatalf("got %d entries, first %d bytes %v", len(got), len(got[0].Payload), got[0].Metadata)
	}
	// The test's own reader parses the 1 MiB entry too; 64 MiB held once
	// would show here.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("reading a 64 MiB line allocated %d MiB", alloc>>20)
	}
}
