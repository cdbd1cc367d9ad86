package journald

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input/inputtest"
	"github.com/logflux/agent/internal/record"
)

// fake is a fake journalctl: a shell script that prints the lines of
// journal.jsonl after --after-cursor (up to the number in the file avail)
// and then waits like --follow does. When the file crash_after holds a
// number, one run prints that many lines and exits 1 instead. Every run
// appends its arguments to the file args.
type fake struct {
	dir, path string
}

const fakeScript = `#!/bin/sh
D=%q
echo "$@" >> "$D/args"
cursor=""
for a in "$@"; do case "$a" in --after-cursor=*) cursor="${a#--after-cursor=}";; esac; done
start=1
if [ -n "$cursor" ]; then
  n=$(grep -n -F "\"__CURSOR\":\"$cursor\"" "$D/journal.jsonl" | cut -d: -f1)
  if [ -z "$n" ]; then echo "Failed to seek to cursor: Invalid argument" >&2; exit 1; fi
  start=$((n+1))
fi
avail=$(cat "$D/avail")
if [ -f "$D/crash_after" ]; then
  end=$((start + $(cat "$D/crash_after") - 1))
  rm "$D/crash_after"
  if [ "$end" -gt "$avail" ]; then end=$avail; fi
  sed -n "${start},${end}p" "$D/journal.jsonl"
  echo "simulated crash" >&2
  exit 1
fi
if [ "$start" -le "$avail" ]; then sed -n "${start},${avail}p" "$D/journal.jsonl"; fi
exec sleep 600
`

func newFake(t *testing.T, journal []byte) *fake {
	dir := t.TempDir()
	f := &fake{dir: dir, path: filepath.Join(dir, "journalctl")}
	if err := os.WriteFile(f.path, fmt.Appendf(nil, fakeScript, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "journal.jsonl"), journal, 0o644)
	f.set("avail", strings.Count(string(journal), "\n"))
	return f
}

func (f *fake) set(name string, n int) {
	os.WriteFile(filepath.Join(f.dir, name), []byte(strconv.Itoa(n)), 0o644)
}

func (f *fake) args(t *testing.T) []string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "args"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// generated is a journal of n entries whose MESSAGE is "entry <i>".
func generated(n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = fmt.Appendf(b, `{"__CURSOR":"s=abc;i=%x","__REALTIME_TIMESTAMP":"%d","PRIORITY":"6","SYSLOG_IDENTIFIER":"app","_PID":"10","MESSAGE":"entry %d"}`+"\n",
			i, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()+int64(i), i)
	}
	return b
}

func cursorOf(i int) string { return fmt.Sprintf("s=abc;i=%x", i) }

func startInput(t *testing.T, f *fake, dataDir string, sink *inputtest.Sink, tweak func(*Config)) *Input {
	t.Helper()
	c := Factory{}.NewConfig().(*Config)
	c.JournalctlPath = f.path
	c.Since = "2000-01-01" // read from the start of the fake journal
	c.RestartDelay = 20 * time.Millisecond
	if tweak != nil {
		tweak(c)
	}
	c.Finish(component.Env{DataDir: dataDir})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	in, err := Factory{}.New(c, component.Settings{Name: "journal", DataDir: dataDir, MaxAppendBytes: 1 << 20, Metrics: new(component.Metrics)})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, in.(*Input)) })
	return in.(*Input)
}

func stop(t *testing.T, in *Input) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

func TestRecordedJournalMapping(t *testing.T) {
	journal, err := os.ReadFile("testdata/journal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, journal)
	sink := inputtest.NewSink(t, 64<<20)
	startInput(t, f, t.TempDir(), sink, nil)
	es := sink.Wait(t, 5)
	want := []struct {
		payload, source, ts string
		level               int
		meta                map[string]string
	}{
		{"Started nginx.service - A high performance web server and a reverse proxy server.", "systemd", "2024-12-07T00:00:00.123456Z", 7,
			map[string]string{"_SYSTEMD_UNIT": "init.scope", "_PID": "1", "_COMM": "systemd", "SYSLOG_IDENTIFIER": "systemd", "_HOSTNAME": "web-1"}},
		{"2024/12/07 00:00:01 [emerg] 4242#4242: bind() to 0.0.0.0:80 failed (98: Address already in use)", "nginx", "2024-12-07T00:00:01Z", 4,
			map[string]string{"_SYSTEMD_UNIT": "nginx.service", "_PID": "4242"}},
		{"binary \ufffd\ufffd output", "backup.sh", "2024-12-07T00:00:02.5Z", 5, map[string]string{"_COMM": "bash"}},
		{"usb 1-1: new high-speed USB device number 2 using xhci_hcd", "kernel", "2024-12-07T00:00:03Z", 8,
			map[string]string{"_SYSTEMD_UNIT": "a.service\nb.service"}},
		{"-", "cron", "2024-12-07T00:00:04Z", 7, map[string]string{"_PID": "777"}},
	}
	for i, w := range want {
		e := es[i]
		if e.Payload != w.payload || e.Source != w.source || e.Timestamp != w.ts || e.LogLevel != w.level || e.PayloadType != "systemd_journal" {
			t.Errorf("entry %d: %+v\nwant %+v", i, e, w)
		}
		for k, v := range w.meta {
			if e.Metadata[k] != v {
				t.Errorf("entry %d: metadata %s = %q, want %q", i, k, e.Metadata[k], v)
			}
		}
		if _, ok := e.Metadata["_EXE"]; ok {
			t.Errorf("entry %d: _EXE is not among the fields asked for", i)
		}
	}
	args := f.args(t)[0]
	for _, a := range []string{"--output=json", "--follow", "--all", "--since=2000-01-01"} {
		if !strings.Contains(args, a) {
			t.Errorf("journalctl %s: %s missing", args, a)
		}
	}
}

// checkOnce checks that es are entries from..to, each once, in order.
func checkOnce(t *testing.T, es []record.Entry, from, to int) {
	t.Helper()
	if len(es) != to-from+1 {
		t.Fatalf("%d entries, want %d (%d..%d)", len(es), to-from+1, from, to)
	}
	for i, e := range es {
		if want := fmt.Sprintf("entry %d", from+i); e.Payload != want {
			t.Fatalf("entry %d is %q, want %q: a gap or a repetition", i, e.Payload, want)
		}
	}
}

// journalctl exiting mid-stream is restarted after the cursor of the last
// durable entry: nothing is missed and nothing read twice.
func TestChildExitRestartsWithoutGapOrRepetition(t *testing.T) {
	f := newFake(t, generated(300))
	f.set("crash_after", 70)
	sink := inputtest.NewSink(t, 64<<20)
	in := startInput(t, f, t.TempDir(), sink, nil)
	es := sink.Wait(t, 300)
	time.Sleep(50 * time.Millisecond)
	checkOnce(t, sink.Entries(t), 1, 300)
	_ = es
	if in.restarts.Load() != 1 {
		t.Errorf("restarts %d, want 1", in.restarts.Load())
	}
	args := f.args(t)
	if len(args) != 2 || !strings.Contains(args[1], "--after-cursor="+cursorOf(70)) || strings.Contains(args[1], "--since") {
		t.Errorf("journalctl runs: %q", args)
	}
}

// Stopping the input and starting a new one on the same data directory
// (what a restart of the agent does) resumes after the saved cursor.
func TestStopAndStartResumeFromCursorFile(t *testing.T) {
	f := newFake(t, generated(120))
	f.set("avail", 50)
	dataDir := t.TempDir()
	sink := inputtest.NewSink(t, 64<<20)
	in := startInput(t, f, dataDir, sink, nil)
	sink.Wait(t, 50)
	stop(t, in)
	checkOnce(t, sink.Entries(t), 1, 50)
	saved, _ := os.ReadFile(filepath.Join(dataDir, "journald", "journal.cursor"))
	if strings.TrimSpace(string(saved)) != cursorOf(50) {
		t.Fatalf("cursor file %q, want %q", saved, cursorOf(50))
	}
	if sink.Syncs.Load() == 0 {
		t.Fatal("the cursor was saved without a Sync")
	}

	f.set("avail", 120)
	sink2 := inputtest.NewSink(t, 64<<20)
	startInput(t, f, dataDir, sink2, nil)
	sink2.Wait(t, 70)
	time.Sleep(50 * time.Millisecond)
	checkOnce(t, sink2.Entries(t), 51, 120)
}

// While the queue refuses entries the cursor does not move; it moves once
// they are in.
func TestCursorOnlyAfterTheQueueHasTheEntries(t *testing.T) {
	f := newFake(t, generated(10))
	dataDir := t.TempDir()
	sink := inputtest.NewSink(t, 64<<20)
	sink.Refuse.Store(true)
	in := startInput(t, f, dataDir, sink, nil)
	deadline := time.Now().Add(5 * time.Second)
	for in.ctr.Read.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if c := in.Cursor(); c != "" {
		t.Fatalf("cursor %q saved while the queue refused the entries", c)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "journald", "journal.cursor")); err == nil {
		t.Fatal("cursor file written while the queue refused the entries")
	}
	sink.Refuse.Store(false)
	sink.Wait(t, 10)
	deadline = time.Now().Add(5 * time.Second)
	for in.Cursor() != cursorOf(10) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c := in.Cursor(); c != cursorOf(10) {
		t.Fatalf("cursor %q", c)
	}
}

// A reload restarts journalctl with the new filters, after the cursor.
func TestReloadKeepsPosition(t *testing.T) {
	f := newFake(t, generated(40))
	f.set("avail", 20)
	sink := inputtest.NewSink(t, 64<<20)
	in := startInput(t, f, t.TempDir(), sink, nil)
	sink.Wait(t, 20)
	c := Factory{}.NewConfig().(*Config)
	c.JournalctlPath, c.Units, c.Matches = f.path, []string{"app.service"}, []string{"PRIORITY=6"}
	c.RestartDelay = 20 * time.Millisecond
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	apply, _, err := in.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	f.set("avail", 40)
	apply()
	sink.Wait(t, 40)
	time.Sleep(50 * time.Millisecond)
	checkOnce(t, sink.Entries(t), 1, 40)
	args := f.args(t)
	last := args[len(args)-1]
	if len(args) != 2 || !strings.Contains(last, "--unit=app.service") || !strings.Contains(last, "--after-cursor="+cursorOf(20)) || !strings.HasSuffix(last, "PRIORITY=6") {
		t.Fatalf("journalctl runs: %q", args)
	}
	if in.restarts.Load() != 0 {
		t.Errorf("a reload counted as a restart")
	}
}

func TestMissingJournalctlIsAStartError(t *testing.T) {
	c := Factory{}.NewConfig().(*Config)
	c.JournalctlPath = filepath.Join(t.TempDir(), "no-such-journalctl")
	dataDir := t.TempDir()
	c.Finish(component.Env{DataDir: dataDir})
	in, err := Factory{}.New(c, component.Settings{Name: "j", DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background(), inputtest.NewSink(t, 1<<20)); err == nil {
		t.Fatal("started without journalctl")
	}
	if err := in.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigProblems(t *testing.T) {
	c := defaults()
	c.JournalctlPath = ""
	c.Units = []string{"--all"}
	c.Matches = []string{"nonsense"}
	c.RestartDelay = 0
	err := c.Validate()
	for _, want := range []string{"journalctl_path", "units", "matches", "restart_delay"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
