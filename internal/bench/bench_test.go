package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/logflux/agent/internal/components"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logflux/agent/internal/agent"
	"github.com/logflux/agent/internal/client"
	"github.com/logflux/agent/internal/config"
)

const testSecret = "bench-test-secret-0123456789abcdef"

// TestMain doubles as a stand-alone agent for the --spawn test: started with
// LFB_HELPER_AGENT=DIR, the test binary runs an agent on DIR/a.sock until
// SIGTERM, like `logflux-agent run` would.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LFB_HELPER_AGENT"); dir != "" {
		os.Exit(helperAgent(dir))
	}
	os.Exit(m.Run())
}

func helperAgent(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := newAgent(dir, filepath.Join(dir, "a.sock"), "")
	if err == nil {
		err = a.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper agent:", err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper agent:", err)
		return 1
	}
	return 0
}

// newAgent builds an agent the way `logflux-agent run` does: defaults, then
// the socket, data directory and (with a secret) a TCP listener on a free
// loopback port; its file output is dataDir/entries.ndjson.
func newAgent(dataDir, sock, secret string) (*agent.Agent, error) {
	cfg, err := config.Load("", func(string) string { return "" }, components.Registry())
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir
	cfg.Unix.Path = sock
	cfg.Log.Level = "error"
	if secret != "" {
		cfg.TCP.Address = "127.0.0.1:0"
		cfg.TCP.SharedSecret = secret
	}
	if err := cfg.Finish(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return agent.New(cfg, agent.Options{Log: slog.New(slog.DiscardHandler)})
}

// testAgent is an agent running in this process for one test.
type testAgent struct {
	addr, tcpAddr string
	out           string // its output file
}

func startAgent(t *testing.T, secret string) testAgent {
	t.Helper()
	dataDir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "lfb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "a.sock")
	a, err := newAgent(dataDir, sock, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("agent shutdown: %v", err)
		}
	})
	ta := testAgent{addr: "unix://" + sock, out: filepath.Join(dataDir, "entries.ndjson")}
	if secret != "" {
		ta.tcpAddr = "tcp://" + a.TCPAddr().String()
	}
	return ta
}

func TestParseFlags(t *testing.T) {
	t.Setenv("LOGFLUX_AGENT_ADDR", "")
	t.Setenv("LOGFLUX_SHARED_SECRET", "")

	o, err := ParseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != client.DefaultAddr || o.Connections != 1 || o.Batch != 1 || o.Duration != 10*time.Second || o.Count != 0 || !o.FlushAtEnd || !o.SyncFirst {
		t.Errorf("defaults: %+v", o)
	}

	o, err = ParseFlags(strings.Fields("--addr unix:///tmp/x.sock --count 5000 --batch 100 --connections 4 --rate 1000 --flush-every 500 --payload 64 --verify-file /tmp/out --flush-at-end=false --sync-first=false"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Count != 5000 || o.Duration != 0 || o.Batch != 100 || o.Connections != 4 || o.Rate != 1000 || o.FlushEvery != 500 || o.PayloadBytes != 64 || o.VerifyFile != "/tmp/out" || o.FlushAtEnd || o.SyncFirst {
		t.Errorf("a --count run must not also stop after the default duration: %+v", o)
	}

	o, err = ParseFlags([]string{"--sweep", "connections=1,2,4,8", "--sweep", "batch=1,10,100", "--duration", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ws := o.Workloads()
	if len(ws) != 12 || ws[0].Connections != 1 || ws[0].Batch != 1 || ws[3].Connections != 8 || ws[4].Batch != 10 || ws[11].Connections != 8 || ws[11].Batch != 100 {
		t.Errorf("sweep: %+v", ws)
	}
	o, err = ParseFlags([]string{"--sweep", "connections=2,4;batch=10"}, io.Discard)
	if err != nil || len(o.Workloads()) != 2 || o.Workloads()[1].Batch != 10 {
		t.Errorf("one --sweep with both: %v %+v", err, o)
	}

	t.Setenv("LOGFLUX_SHARED_SECRET", testSecret)
	if o, err := ParseFlags([]string{"--addr", "tcp://127.0.0.1:9999"}, io.Discard); err != nil || o.Secret != testSecret {
		t.Errorf("the secret comes from the environment: %v %q", err, o.Secret)
	}
	t.Setenv("LOGFLUX_SHARED_SECRET", "")

	var help bytes.Buffer
	if _, err := ParseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "--sweep") && !strings.Contains(help.String(), "-sweep") {
		t.Errorf("-h: %v\n%s", err, help.String())
	}

	for _, bad := range []struct{ args, want string }{
		{"--addr tcp://127.0.0.1:9999", "needs --secret"},
		{"--batch 101", "batch must be"},
		{"--batch 0", "batch must be"},
		{"--payload 0", "payload must be"},
		{"--payload 1000000 --batch 50", "16 MiB"},
		{"--connections 0", "connections must be"},
		{"--count 3 --connections 4", "smaller than the number of connections"},
		{"--pid 12 --spawn agent", "not both"},
		{"--verify-count 10", "needs --verify-file"},
		{"--sweep threads=1,2", "only connections and batch"},
		{"--sweep connections=1,x", "not a positive integer"},
		{"--rate -5", "negative"},
		{"--addr nowhere", "agent address"},
		{"extra", "unexpected argument"},
	} {
		var stderr bytes.Buffer
		_, err := ParseFlags(strings.Fields(bad.args), &stderr)
		if err == nil || !strings.Contains(stderr.String(), bad.want) {
			t.Errorf("%s: want an error with %q, got %v; stderr %q", bad.args, bad.want, err, stderr.String())
		}
	}
	// Every problem is reported at once.
	var stderr bytes.Buffer
	if _, err := ParseFlags(strings.Fields("--batch 0 --payload 0"), &stderr); err == nil || !strings.Contains(stderr.String(), "batch") || !strings.Contains(stderr.String(), "payload") {
		t.Errorf("want both problems: %q", stderr.String())
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := Summarize(ds)
	if l.Count != 100 || l.P50MS != 50 || l.P90MS != 90 || l.P99MS != 99 || l.MaxMS != 100 || l.MeanMS != 50.5 {
		t.Errorf("1..100 ms: %+v", l)
	}
	one := []time.Duration{7 * time.Millisecond}
	if Percentile(one, 0.5) != 7*time.Millisecond || Percentile(one, 0.99) != 7*time.Millisecond {
		t.Error("a single value is every percentile")
	}
	// Nearest rank: with 3 values, p50 is the 2nd and p90 the 3rd.
	three := []time.Duration{1, 2, 3}
	if Percentile(three, 0.5) != 2 || Percentile(three, 0.9) != 3 || Percentile(three, 0.01) != 1 {
		t.Error("nearest rank on 3 values")
	}
	if Percentile(nil, 0.5) != 0 || Summarize(nil) != nil {
		t.Error("no values")
	}
}

func TestReadProcSelf(t *testing.T) {
	pid := os.Getpid()
	st, err := ReadProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(os.Args[0]); !strings.HasPrefix(want, st.Name) || st.Name == "" {
		t.Errorf("name %q, executable %q", st.Name, want)
	}
	// Burn some CPU: the figure must grow.
	deadline := time.Now().Add(150 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = fmt.Sprint(x)
	}
	st2, err := ReadProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st2.CPUSeconds <= st.CPUSeconds {
		t.Errorf("CPU did not grow: %v then %v", st.CPUSeconds, st2.CPUSeconds)
	}
	if st2.SystemSeconds < 0 || st2.SystemSeconds > st2.CPUSeconds {
		t.Errorf("system time %v of %v CPU seconds", st2.SystemSeconds, st2.CPUSeconds)
	}

	rss, err := ReadRSS(pid)
	if err != nil || rss < 1<<20 {
		t.Fatalf("VmRSS %d, %v", rss, err)
	}
	// Touch 64 MiB: the peak must cover it.
	big := make([]byte, 64<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	peak, err := ReadPeakRSS(pid)
	if err != nil || peak < 64<<20 {
		t.Fatalf("VmHWM %d after touching 64 MiB, %v", peak, err)
	}
	big[len(big)-1] = 2 // keep it alive until now
	// Give the 64 MiB back: after a reset the peak is today's RSS.
	big = nil
	debug.FreeOSMemory()
	if err := ResetPeakRSS(pid); err != nil {
		t.Logf("cannot reset VmHWM here: %v", err)
	} else if after, _ := ReadPeakRSS(pid); after > peak-32<<20 {
		t.Errorf("the reset did not lower the peak: %d MiB, then %d MiB", peak>>20, after>>20)
	}

	if _, err := ReadProcStat(1 << 30); err == nil {
		t.Error("a pid that does not exist")
	}
}

func TestParseProcStat(t *testing.T) {
	// comm may hold spaces and parentheses.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 12345 1000000 500 18446744073709551615\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "my (odd) name" || st.CPUSeconds != 3.25 || st.SystemSeconds != 0.75 {
		t.Errorf("%+v", st)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short line")
	}
	status := "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t  1024 kB\n"
	if n, err := parseStatusKB(strings.NewReader(status), "VmHWM:"); err != nil || n != 2048*1024 {
		t.Errorf("VmHWM %d %v", n, err)
	}
	if _, err := parseStatusKB(strings.NewReader("Name:\tkthreadd\n"), "VmHWM:"); err == nil {
		t.Error("a kernel thread has no VmHWM")
	}
}

func TestFindListener(t *testing.T) {
	dir, err := os.MkdirTemp("", "lfb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "l.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	if pid, err := FindListener("unix", sock); err != nil || pid != os.Getpid() {
		t.Errorf("unix: pid %d, %v; want %d", pid, err, os.Getpid())
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if pid, err := FindListener("tcp", tl.Addr().String()); err != nil || pid != os.Getpid() {
		t.Errorf("tcp: pid %d, %v; want %d", pid, err, os.Getpid())
	}
	if _, err := FindListener("unix", filepath.Join(dir, "none.sock")); err == nil {
		t.Error("nobody listens there")
	}
}

func TestRingMessages(t *testing.T) {
	for _, batch := range []int{1, 7, 100} {
		r := newRing(batch, 180, 50, 1)
		if r.len() != 50 {
			t.Fatalf("batch %d: %d messages", batch, r.len())
		}
		payloads := map[string]bool{}
		for i := range r.len() {
			line := r.buf[r.start(i):r.ends[i]]
			if line[len(line)-1] != '\n' || bytes.Count(line, []byte{'\n'}) != 1 {
				t.Fatalf("message %d is not one line: %q", i, line)
			}
			var m struct {
				Version string            `json:"version"`
				Entries []json.RawMessage `json:"entries"`
				Payload string            `json:"payload"`
			}
			if err := json.Unmarshal(line, &m); err != nil || m.Version != "1.0" {
				t.Fatalf("message %d: %v %q", i, err, line)
			}
			entries := m.Entries
			if batch == 1 {
				if m.Entries != nil {
					t.Fatal("a single entry has no entries key")
				}
				entries = []json.RawMessage{line}
			}
			if len(entries) != batch {
				t.Fatalf("message %d has %d entries, want %d", i, len(entries), batch)
			}
			for _, e := range entries {
				var ent struct {
					Payload   string `json:"payload"`
					EntryType int    `json:"entryType"`
					Source    string `json:"source"`
					LogLevel  int    `json:"logLevel"`
				}
				if err := json.Unmarshal(e, &ent); err != nil || len(ent.Payload) != 180 || ent.EntryType != 1 || ent.Source == "" || ent.LogLevel < 1 || ent.LogLevel > 8 {
					t.Fatalf("entry %s: %v", e, err)
				}
				payloads[ent.Payload] = true
			}
		}
		if len(payloads) < 50*batch*9/10 {
			t.Errorf("batch %d: only %d distinct payloads of %d", batch, len(payloads), 50*batch)
		}
		if batch == 1 {
			// "The whole line is about payload+120 bytes."
			if per := len(r.buf) / r.len(); per < 180+100 || per > 180+lineOverhead {
				t.Errorf("a single-entry line is %d bytes for a 180-byte payload", per)
			}
		}
	}
}

func TestFollower(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ndjson")
	appendLines := func(p string, n int) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.WriteString(strings.Repeat("{\"x\":1}\n", n))
	}
	appendLines(path, 5) // there before: not counted
	fl, err := newFollower(path)
	if err != nil {
		t.Fatal(err)
	}
	appendLines(path, 3)
	if err := fl.step(); err != nil || fl.lines.Load() != 3 {
		t.Fatalf("3 new lines: %d %v", fl.lines.Load(), err)
	}
	// Rotation: lines written to the old file before the rename still count.
	appendLines(path, 2)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(path+".1", 1) // a writer that still had it open
	appendLines(path, 4)
	if err := fl.step(); err != nil || fl.lines.Load() != 10 {
		t.Fatalf("across a rotation: %d %v", fl.lines.Load(), err)
	}
	// A file that does not exist yet is waited for.
	fl2, err := newFollower(filepath.Join(dir, "later.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	fl2.setTarget(2)
	done := make(chan struct{})
	go func() { fl2.run(context.Background()); close(done) }()
	appendLines(filepath.Join(dir, "later.ndjson"), 2)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not see 2 lines in a new file")
	}
	if n, _, reached, err := fl2.state(); n != 2 || reached.IsZero() || err != nil {
		t.Errorf("state %d %v %v", n, reached, err)
	}
}

func sweepResults() []Result {
	var rs []Result
	for _, b := range []int{1, 10, 100} {
		for _, c := range []int{1, 2, 4, 8} {
			rs = append(rs, Result{Label: "logflux-agent", Transport: "unix", Connections: c, Batch: b, PayloadBytes: 180, BytesPerEntry: 308,
				EntriesPerSec: float64(b*20000 + c*15000)})
		}
	}
	return rs
}

func TestWriteChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sweep.png")
	if err := WriteChart(path, sweepResults()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != ChartWidth || b.Dy() != ChartHeight {
		t.Fatalf("size %v", b)
	}
	// Not blank: every series colour is drawn, and there is text (ink).
	counts := map[color.RGBA]int{}
	for y := range ChartHeight {
		for x := range ChartWidth {
			r, g, b, a := img.At(x, y).RGBA()
			counts[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}]++
		}
	}
	for i := range 3 {
		if n := counts[chartPalette[i]]; n < 200 {
			t.Errorf("series %d colour: %d pixels", i, n)
		}
	}
	if counts[chartInk] < 500 {
		t.Errorf("labels and axes: %d pixels of ink", counts[chartInk])
	}
	if counts[chartBG] > ChartWidth*ChartHeight*98/100 {
		t.Error("the chart is nearly blank")
	}
	if err := WriteChart(path, nil); err == nil {
		t.Error("no results, no chart")
	}
}

func TestShortNumbers(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 250000: "250k", 1500000: "1.5M", 2000000: "2M", 12500: "12.5k", 0.5: "0.5"} {
		if got := shortNumber(v); got != want {
			t.Errorf("shortNumber(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]float64{0.7: 1, 130: 200, 45000: 50000, 20000: 20000} {
		if got := niceStep(v); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", v, got, want)
		}
	}
	if group(1234567) != "1,234,567" || group(999) != "999" || group(-1000) != "-1,000" {
		t.Error("group")
	}
}

// TestRunInProcess sends a short load to a real agent in this process, with
// batches, periodic flushes, and the end-to-end check.
func TestRunInProcess(t *testing.T) {
	ta := startAgent(t, "")
	opts := DefaultOptions()
	opts.Addr = ta.addr
	opts.Duration = 0
	opts.Count = 20000
	opts.Connections = 2
	opts.Batch = 10
	opts.FlushEvery = 1000
	opts.VerifyFile = ta.out
	opts.VerifyTimeout = 30 * time.Second
	var progress bytes.Buffer
	opts.Interval = 50 * time.Millisecond
	res, err := Run(t.Context(), opts, &progress)
	if err != nil {
		t.Fatalf("%v\n%+v", err, res)
	}
	if res.Entries != 20000 || res.Messages != 2000 || res.Accepted == nil || *res.Accepted != 20000 || *res.Rejected != 0 || res.Errors != nil {
		t.Errorf("sent %d in %d messages; accepted %v; errors %v", res.Entries, res.Messages, res.Accepted, res.Errors)
	}
	if res.Flush == nil || res.Flush.Count != 20 || res.Flush.P50MS <= 0 || res.Flush.MaxMS < res.Flush.P99MS {
		t.Errorf("flushes: %+v", res.Flush)
	}
	if v := res.Verify; v == nil || !v.Complete || v.Arrived != 20000 || v.Seconds <= 0 || v.EntriesPerSec <= 0 {
		t.Errorf("verify: %+v", v)
	}
	if res.EntriesPerSec <= 0 || res.MBPerSec <= 0 || res.BytesPerEntry < 180 {
		t.Errorf("rates: %+v", res)
	}
	// The agent listens in this process: found by its socket.
	if res.Target == nil || res.Target.PID != os.Getpid() || !res.Target.InProcess || res.Target.PeakRSSBytes <= 0 {
		t.Errorf("target: %+v", res.Target)
	}
	if res.Generator.PID != os.Getpid() || res.Generator.CPUSeconds < 0 {
		t.Errorf("generator: %+v", res.Generator)
	}
	lines := countLines(t, ta.out)
	if lines != 20000 {
		t.Errorf("the output has %d lines", lines)
	}

	// A second run on the same file counts only its own lines; a count
	// that is not a multiple of the batch ends with a shorter batch.
	opts.Connections, opts.Batch, opts.Count, opts.FlushEvery = 1, 100, 1001, 0
	res, err = Run(t.Context(), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 1001 || res.Messages != 11 || *res.Accepted != 1001 || !res.Verify.Complete || res.Verify.Arrived != 1001 {
		t.Errorf("1001 entries in batches of 100: %+v %+v", res, res.Verify)
	}

	var report bytes.Buffer
	WriteReport(&report, []Result{*res})
	for _, want := range []string{"1,001 entries", "batches of 100", "accepted  1,001, rejected 0", "all 1,001 lines"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
}

// TestRunPacedTCP paces a run over TCP: it cannot finish faster than the
// rate allows.
func TestRunPacedTCP(t *testing.T) {
	ta := startAgent(t, testSecret)
	opts := DefaultOptions()
	opts.Addr, opts.Secret = ta.tcpAddr, testSecret
	opts.Duration, opts.Count = 0, 3000
	opts.Rate = 10000 // 0.3 s
	opts.Connections = 3
	res, err := Run(t.Context(), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Transport != "tcp" || res.Entries != 3000 || *res.Accepted != 3000 {
		t.Errorf("%+v", res)
	}
	if res.SendSeconds < 0.25 {
		t.Errorf("3000 entries at 10000/s took %.3f s", res.SendSeconds)
	}

	// Bounded by time instead of a count.
	opts.Count, opts.Duration, opts.Rate = 0, 300*time.Millisecond, 20000
	res, err = Run(t.Context(), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.SendSeconds < 0.29 || res.SendSeconds > 5 || res.Entries == 0 || res.Entries > 7000 || *res.Accepted != res.Entries {
		t.Errorf("300 ms at 20000/s: %d entries in %.3f s", res.Entries, res.SendSeconds)
	}

	// A wrong secret fails at once.
	opts.Secret = strings.Repeat("x", 40)
	if _, err := Run(t.Context(), opts, io.Discard); err == nil {
		t.Error("a wrong secret must fail")
	}
}

// TestSweepSpawn runs a two-point sweep in which every run starts its own
// agent (this test binary in helper mode) with --spawn, measures it from
// /proc, stops it, and writes the JSON and the chart.
func TestSweepSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	dir, err := os.MkdirTemp("", "lfb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LFB_HELPER_AGENT", dir)
	opts := DefaultOptions()
	opts.Addr = "unix://" + filepath.Join(dir, "a.sock")
	opts.Spawn = "'" + exe + "' -test.run=^$"
	opts.Duration, opts.Count = 0, 4000
	opts.SweepConnections = []int{1, 2}
	opts.VerifyFile = filepath.Join(dir, "entries.ndjson")
	opts.JSONPath = filepath.Join(dir, "r.json")
	opts.ChartPath = filepath.Join(dir, "r.png")
	var stdout, progress bytes.Buffer
	if err := Execute(t.Context(), opts, &stdout, &progress); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), progress.String())
	}
	var results []Result
	data, err := os.ReadFile(opts.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &results); err != nil || len(results) != 2 {
		t.Fatalf("%v: %s", err, data)
	}
	pids := map[int]bool{}
	for _, r := range results {
		tg := r.Target
		if tg == nil || tg.PID == os.Getpid() || tg.InProcess || tg.PeakRSSBytes <= 0 || tg.CPUSeconds <= 0 || r.Verify == nil || !r.Verify.Complete {
			t.Errorf("%d connections: %+v %+v", r.Connections, tg, r.Verify)
			continue
		}
		pids[tg.PID] = true
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", tg.PID)); err == nil {
			t.Errorf("the spawned agent %d still runs", tg.PID)
		}
	}
	if len(pids) != 2 {
		t.Errorf("each run has its own agent: %v", pids)
	}
	if !strings.Contains(stdout.String(), "connections  batch") {
		t.Errorf("a sweep ends with a table:\n%s", stdout.String())
	}
	if st, err := os.Stat(opts.ChartPath); err != nil || st.Size() == 0 {
		t.Errorf("chart: %v", err)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte{'\n'})
}

// fakePeer is a target that is not a LogFlux agent: it copies every line it
// reads to a file and answers nothing, like rsyslog or Fluent Bit; with
// answer set it answers every line with an error, once the client has closed
// its side.
func fakePeer(t *testing.T, answer bool) (addr, out string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, out := filepath.Join(dir, "peer.sock"), filepath.Join(dir, "out.ndjson")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done; f.Close() })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(c)
			if answer {
				for range strings.Lines(string(data)) {
					io.WriteString(c, `{"status":"error","code":"queue_full","message":"full"}`+"\n")
				}
			}
			f.Write(data)
			c.Close()
		}
	}()
	return "unix://" + sock, out
}

func TestRunAgainstPeer(t *testing.T) {
	addr, out := fakePeer(t, false)
	opts := DefaultOptions()
	opts.Addr, opts.Duration, opts.Count = addr, 0, 5000
	opts.Batch = 1
	opts.FlushAtEnd = false
	opts.VerifyFile = out
	opts.VerifyTimeout = 10 * time.Second
	opts.Label = "peer"
	res, err := Run(t.Context(), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Label != "peer" || res.Entries != 5000 || res.Accepted != nil || !res.Verify.Complete || res.Verify.Arrived != 5000 {
		t.Errorf("%+v %+v", res, res.Verify)
	}

	// A peer does not answer flushes: the run says so instead of hanging.
	opts.FlushAtEnd, opts.FlushTimeout = true, 200*time.Millisecond
	opts.VerifyFile = ""
	if _, err := Run(t.Context(), opts, io.Discard); err == nil || !strings.Contains(err.Error(), "--flush-at-end=false") {
		t.Errorf("want a hint about --flush-at-end, got %v", err)
	}
}

func TestRunCountsErrors(t *testing.T) {
	addr, _ := fakePeer(t, true)
	opts := DefaultOptions()
	opts.Addr, opts.Duration, opts.Count, opts.Batch = addr, 0, 300, 10
	opts.FlushAtEnd = false
	res, err := Run(t.Context(), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["queue_full"] != 30 {
		t.Errorf("errors %v, want 30 queue_full (one per batch)", res.Errors)
	}
}

func TestWaitLinesReturnsAtTheNthLineOrWithTheContextsError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(20 * time.Millisecond)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return
			}
			f.WriteString("{}\n{}\n")
			f.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reached, seen, err := WaitLines(ctx, path, 5, 0)
	if err != nil || reached.IsZero() || seen < 5 {
		t.Fatalf("WaitLines(5) = %v, %d, %v; want the time the 5th line was seen", reached, seen, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, seen, err := WaitLines(short, path, 1, 0); err == nil || seen != 0 {
		t.Fatalf("WaitLines for a line never written = %d, %v; want 0 and the deadline's error", seen, err)
	}
}

func TestWaitLinesStopsWhenLinesStopArrivingWithIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			f.WriteString("{}\n{}\n{}\n")
			f.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, seen, err := WaitLines(ctx, path, 10, 200*time.Millisecond)
	if !errors.Is(err, ErrStalled) || seen != 3 || last.IsZero() {
		t.Fatalf("WaitLines(10) with 3 lines written = %v, %d, %v; want the last line's time, 3 and ErrStalled", last, seen, err)
	}
}
