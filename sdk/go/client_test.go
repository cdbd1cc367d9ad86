package logflux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logflux/agent/sdk/go/internal/fakeagent"
)

func TestEntriesArriveWithTheirFields(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	ts := time.Date(2025, 8, 31, 10, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	mustLog(t, c, Entry{
		Payload:     "User login \"successful\"\n",
		EntryType:   TypeEvent,
		Source:      "auth-service",
		Level:       LevelNotice,
		Timestamp:   ts,
		PayloadType: "application",
		Metadata:    map[string]string{"service": "authentication", "env": "production", "ü": "ö"},
	})
	mustLog(t, c, Entry{Payload: "defaults"})
	mustFlush(t, c)

	es := a.Entries()
	if len(es) != 2 {
		t.Fatalf("agent has %d entries, want 2", len(es))
	}
	e := es[0]
	if e.Payload != "User login \"successful\"\n" || e.EntryType != 4 || e.Source != "auth-service" ||
		e.LogLevel != 6 || e.PayloadType != "application" {
		t.Errorf("entry fields = %+v", e)
	}
	if e.Timestamp != "2025-08-31T08:30:00.123456789Z" {
		t.Errorf("timestamp = %q, want UTC with nanoseconds", e.Timestamp)
	}
	if len(e.Metadata) != 3 || e.Metadata["service"] != "authentication" || e.Metadata["ü"] != "ö" {
		t.Errorf("metadata = %v", e.Metadata)
	}
	d := es[1]
	if d.EntryType != 1 || d.LogLevel != 7 || d.Source != "sdk-test" || d.PayloadType != "" || d.Metadata != nil {
		t.Errorf("defaults: %+v", d)
	}
	if ts, err := time.Parse(time.RFC3339Nano, d.Timestamp); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("default timestamp %q is not the time of the Log call", d.Timestamp)
	}
	s := c.Stats()
	if s.Logged != 2 || s.Accepted != 2 || s.Confirmed != 2 || s.Queued != 0 || s.QueuedBytes != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestMetadataValuesCutToAgentLimit(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	long := strings.Repeat("é", 2000)
	mustLog(t, c, Entry{Payload: "x", Metadata: map[string]string{"long": long}})
	mustFlush(t, c)
	got := a.Entries()[0].Metadata["long"]
	if n := len([]rune(got)); n != 1024 || !strings.HasSuffix(got, "…") {
		t.Errorf("cut value has %d characters, ends %q", n, got[len(got)-6:])
	}
}

func TestFlushWaitsForTheFlushAnswer(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	mustLog(t, c, Entry{Payload: "one"})
	mustFlush(t, c) // the connection is up

	release := a.HoldFlushes()
	defer release()
	mustLog(t, c, Entry{Payload: "two"})
	done := make(chan error, 1)
	go func() { done <- c.Flush(context.Background()) }()

	a.WaitEntries(2, 2*time.Second) // the entry itself got there…
	select {
	case err := <-done:
		t.Fatalf("Flush returned %v before the agent answered the flush", err)
	case <-time.After(150 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Flush did not return after the flush answer")
	}

	// A deadline ends a Flush the agent does not answer.
	release2 := a.HoldFlushes()
	defer release2()
	mustLog(t, c, Entry{Payload: "three"})
	err := c.Flush(ctxTimeout(t, 100*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with an unanswered flush = %v, want DeadlineExceeded", err)
	}
}

// TestFlushAnsweredUnavailableConfirmsNothing: an agent that answers a
// flush with an error (its queue could not be made durable) has confirmed
// nothing; the entries count as confirmed only once a later flush succeeds.
func TestFlushAnsweredUnavailableConfirmsNothing(t *testing.T) {
	a := startAgent(t)
	cfg := testConfig(a.Addr())
	cfg.Connections = 1
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "one"})
	mustFlush(t, c) // the connection is up
	a.FailNextFlushes("unavailable", "unavailable", "unavailable")
	mustLog(t, c, Entry{Payload: "two"})
	a.WaitEntries(2, 2*time.Second)
	err := c.Flush(ctxTimeout(t, 50*time.Millisecond))
	if err == nil {
		t.Fatal("Flush succeeded on an unavailable answer")
	}
	if got := c.Stats().Confirmed; got != 1 {
		t.Fatalf("confirmed %d after an unavailable flush answer, want 1 (only the first entry)", got)
	}
	mustFlush(t, c) // asked again, paced, until a flush is answered success
	if got := c.Stats().Confirmed; got != 2 {
		t.Fatalf("confirmed %d after a successful flush, want 2", got)
	}
}

func TestFlushWithNothingLoggedReturnsAtOnce(t *testing.T) {
	c := newClient(t, testConfig("unix:///nonexistent/agent.sock"))
	if err := c.Flush(ctxTimeout(t, time.Second)); err != nil {
		t.Fatalf("Flush of nothing = %v", err)
	}
}

func TestFlushResendsWhenConnectionLostBeforeAnswer(t *testing.T) {
	a := startAgent(t)
	cfg := testConfig(a.Addr())
	cfg.Connections = 1
	c := newClient(t, cfg)
	a.DropNextFlushes(1)
	for i := range 10 {
		mustLog(t, c, Entry{Payload: fmt.Sprint("e", i)})
	}
	mustFlush(t, c)
	es := a.Entries()
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Payload]++
	}
	for i := range 10 {
		if seen[fmt.Sprint("e", i)] == 0 {
			t.Errorf("entry e%d never arrived", i)
		}
	}
	s := c.Stats()
	if s.Retried["reconnect"] == 0 {
		t.Errorf("stats = %+v, want a reconnect retry", s.Retried)
	}
	if s.Queued != 0 {
		t.Errorf("%d entries still queued after Flush", s.Queued)
	}
}

func TestLogNeverBlocksOnUnresponsiveAgent(t *testing.T) {
	a := startAgent(t)
	a.SetUnresponsive(true)
	cfg := testConfig(a.Addr())
	cfg.QueueBytes = 256 << 10
	// A Log that waited on the network would take this long.
	cfg.WriteTimeout = 5 * time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 500)
	var full int
	var slowest time.Duration
	start := time.Now()
	for range 20000 {
		t0 := time.Now()
		err := c.Log(context.Background(), Entry{Payload: payload})
		slowest = max(slowest, time.Since(t0))
		switch {
		case err == nil:
		case errors.Is(err, ErrQueueFull):
			full++
		default:
			t.Fatalf("Log: %v", err)
		}
	}
	total := time.Since(start)
	if full == 0 {
		t.Fatal("no entry was dropped with ErrQueueFull, though the agent reads nothing")
	}
	// Generous bounds for a loaded machine, far below WriteTimeout.
	if total > 5*time.Second || slowest > time.Second {
		t.Fatalf("20000 Log calls took %v, slowest %v", total, slowest)
	}
	s := c.Stats()
	if s.Dropped["queue_full"] != uint64(full) {
		t.Errorf("Dropped[queue_full] = %d, Log returned ErrQueueFull %d times", s.Dropped["queue_full"], full)
	}
	if s.QueuedBytes > int64(cfg.QueueBytes) {
		t.Errorf("QueuedBytes %d over the cap %d", s.QueuedBytes, cfg.QueueBytes)
	}

	// Flush and Close give up at their deadline; Close still stops everything.
	if err := c.Flush(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want DeadlineExceeded", err)
	}
	t0 := time.Now()
	err = c.Close(ctxTimeout(t, 100*time.Millisecond))
	if err == nil {
		t.Error("Close with an unresponsive agent returned nil")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if s := c.Stats(); s.Dropped["unsent"] == 0 {
		t.Errorf("stats after Close = %+v, want unsent drops", s.Dropped)
	}
}

func TestAgentAbsentFlushFailsFast(t *testing.T) {
	c := newClient(t, testConfig("unix://"+t.TempDir()+"/none.sock"))
	t0 := time.Now()
	for range 100 {
		mustLog(t, c, Entry{Payload: "queued"})
	}
	err := c.Flush(ctxTimeout(t, 10*time.Second))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush = %v, want ErrUnavailable", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Flush took %v to report the agent down", d)
	}
	if s := c.Stats(); s.Queued != 100 || s.LastError == nil || s.DialFailures == 0 {
		t.Errorf("stats = %+v, want 100 entries kept and the dial error", s)
	}
}

func TestNoDialStormWhileAgentDown(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig("unix://" + dir + "/none.sock")
		cfg.MinBackoff = 10 * time.Millisecond
		cfg.MaxBackoff = 100 * time.Millisecond
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustLog(t, c, Entry{Payload: "waiting"})
		time.Sleep(10 * time.Second) // of the bubble's fake time
		// Backoff from 10ms to 100ms allows at most ~1000 attempts in 10s
		// (~100 once at the cap); without backoff there would be millions.
		n := c.Stats().DialFailures
		if n < 50 || n > 300 {
			t.Errorf("%d dial attempts in 10 seconds", n)
		}
		c.Close(context.Background())
	})
}

func TestReconnectAfterAgentRestart(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	mustLog(t, c, Entry{Payload: "before"})
	mustFlush(t, c)

	a.Stop()
	mustLog(t, c, Entry{Payload: "during"})
	if err := c.Flush(ctxTimeout(t, 2*time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush while stopped = %v, want ErrUnavailable", err)
	}
	a.Restart()
	mustLog(t, c, Entry{Payload: "after"})
	// The entries arrive without a Flush…
	es := a.WaitEntries(3, 10*time.Second)
	got := map[string]bool{}
	for _, e := range es {
		got[e.Payload] = true
	}
	if !got["during"] || !got["after"] {
		t.Fatalf("after restart the agent has %v", got)
	}
	// …and a Flush succeeds again.
	mustFlush(t, c)
}

func TestTCPAuthentication(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	a := fakeagent.Start(t, fakeagent.Options{TCP: true, Secret: secret})
	cfg := testConfig(a.Addr())
	cfg.SharedSecret = secret
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "over tcp"})
	mustFlush(t, c)
	if es := a.Entries(); len(es) != 1 || es[0].Payload != "over tcp" {
		t.Fatalf("entries = %+v", es)
	}
	if n := a.Counts(); n.Auths != 1 || n.Conns != 1 {
		t.Errorf("counts = %+v, want one authenticated connection", n)
	}
}

func TestTCPAuthFailureReported(t *testing.T) {
	a := fakeagent.Start(t, fakeagent.Options{TCP: true, Secret: "0123456789abcdef0123456789abcdef"})
	cfg := testConfig(a.Addr())
	cfg.SharedSecret = "wrong-secret-wrong-secret-wrong!"
	c := newClient(t, cfg)
	mustLog(t, c, Entry{Payload: "refused"})
	err := c.Flush(ctxTimeout(t, 2*time.Second))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Flush = %v, want ErrUnavailable and ErrAuthFailed", err)
	}
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != "auth_failed" {
		t.Fatalf("Flush error %v carries no auth_failed AgentError", err)
	}
	if s := c.Stats(); !errors.Is(s.LastError, ErrAuthFailed) {
		t.Errorf("Stats.LastError = %v", s.LastError)
	}
	if len(a.Entries()) != 0 {
		t.Error("entries got through without authentication")
	}
}

func TestNewNeedsSecretForTCP(t *testing.T) {
	t.Setenv(EnvSharedSecret, "")
	if _, err := New(Config{Addr: "tcp://127.0.0.1:9"}); err == nil {
		t.Fatal("New with a TCP address and no secret succeeded")
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	a := startAgent(t)
	c, err := New(testConfig(a.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	mustLog(t, c, Entry{Payload: "last words"})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = c.Close(ctxTimeout(t, 2*time.Second)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close #%d = %v", i, err)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("Close again = %v", err)
	}
	if es := a.Entries(); len(es) != 1 {
		t.Errorf("Close did not flush: agent has %d entries", len(es))
	}
	if err := c.Log(context.Background(), Entry{Payload: "too late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Log after Close = %v, want ErrClosed", err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

func TestDropsCountedByReason(t *testing.T) {
	cfg := testConfig("unix://" + t.TempDir() + "/none.sock")
	cfg.QueueBytes = 64 << 10
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Log(context.Background(), Entry{}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("empty payload: %v", err)
	}
	if err := c.Log(context.Background(), Entry{Payload: "x", Level: 9}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("level 9: %v", err)
	}
	full := 0
	for range 1000 {
		if err := c.Log(context.Background(), Entry{Payload: strings.Repeat("y", 200)}); errors.Is(err, ErrQueueFull) {
			full++
		}
	}
	c.Close(ctxTimeout(t, time.Second))
	if err := c.Log(context.Background(), Entry{Payload: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	s := c.Stats()
	want := map[string]uint64{"invalid": 2, "queue_full": uint64(full), "closed": 1, "unsent": uint64(1000 - full)}
	for k, v := range want {
		if s.Dropped[k] != v {
			t.Errorf("Dropped[%s] = %d, want %d (all: %v)", k, s.Dropped[k], v, s.Dropped)
		}
	}
	if full == 0 {
		t.Error("no queue_full drop")
	}
}

func TestAgentRejectionsCountedByCode(t *testing.T) {
	a := startAgent(t)
	a.SetReject(func(e fakeagent.Entry) string {
		if strings.HasPrefix(e.Payload, "bad") {
			return "payload"
		}
		return ""
	})
	cfg := testConfig(a.Addr())
	cfg.Connections = 1
	c := newClient(t, cfg)
	for _, p := range []string{"good1", "bad1", "good2", "bad2", "good3"} {
		mustLog(t, c, Entry{Payload: p})
	}
	mustFlush(t, c)
	a.FailNextBatches("unsupported_version")
	mustLog(t, c, Entry{Payload: "good4"})
	mustFlush(t, c)

	if n := len(a.Entries()); n != 3 {
		t.Errorf("agent accepted %d entries, want 3", n)
	}
	s := c.Stats()
	if s.Rejected["invalid_entry"] != 2 || s.Rejected["unsupported_version"] != 1 {
		t.Errorf("Rejected = %v", s.Rejected)
	}
	if s.Accepted != 3 || s.Queued != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestQueueFullFromAgentIsRetried(t *testing.T) {
	a := startAgent(t)
	cfg := testConfig(a.Addr())
	cfg.Connections = 1
	c := newClient(t, cfg)
	a.FailNextBatches("queue_full", "queue_full")
	for i := range 5 {
		mustLog(t, c, Entry{Payload: fmt.Sprint("q", i)})
	}
	mustFlush(t, c)
	es := a.Entries()
	if len(es) != 5 {
		t.Fatalf("agent has %d entries, want each of 5 exactly once", len(es))
	}
	for i, e := range es {
		if e.Payload != fmt.Sprint("q", i) {
			t.Errorf("entry %d = %q: order changed", i, e.Payload)
		}
	}
	if s := c.Stats(); s.Retried["queue_full"] != 2 || len(s.Rejected) != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestBatchesHoldAtMost100Entries(t *testing.T) {
	a := startAgent(t)
	cfg := testConfig(a.Addr())
	cfg.BatchBytes = 16 << 10
	c := newClient(t, cfg)
	for i := range 1000 {
		mustLog(t, c, Entry{Payload: fmt.Sprint("entry ", i)})
	}
	for range 50 {
		mustLog(t, c, Entry{Payload: strings.Repeat("z", 2000)})
	}
	mustFlush(t, c)
	if n := len(a.Entries()); n != 1050 {
		t.Fatalf("agent has %d entries, want 1050", n)
	}
	n := a.Counts()
	if n.MaxBatch > 100 || n.MaxBatch < 50 {
		t.Errorf("largest batch had %d entries", n.MaxBatch)
	}
	if n.MaxLine > 16<<10+100 {
		t.Errorf("longest line %d bytes, BatchBytes is %d", n.MaxLine, 16<<10)
	}
}

func TestTooLargeLineIsSplit(t *testing.T) {
	a := fakeagent.Start(t, fakeagent.Options{MaxLine: 2000})
	cfg := testConfig(a.Addr())
	cfg.Connections = 1
	c := newClient(t, cfg)
	for i := range 40 {
		mustLog(t, c, Entry{Payload: fmt.Sprintf("%03d %s", i, strings.Repeat("s", 100))})
	}
	mustFlush(t, c)
	if n := len(a.Entries()); n != 40 {
		t.Fatalf("agent has %d entries, want 40", n)
	}
	if s := c.Stats(); s.Retried["split"] == 0 {
		t.Errorf("stats = %+v, want splits", s)
	}
}

func TestBlockModeWaitsForRoom(t *testing.T) {
	a := startAgent(t)
	release := a.HoldFlushes()
	cfg := testConfig(a.Addr())
	cfg.QueueBytes = 64 << 10
	cfg.Block = true
	c := newClient(t, cfg)
	payload := strings.Repeat("b", 1000)
	// Unconfirmed entries stay charged, so with flushes held the queue fills.
	var err error
	for range 200 {
		if err = c.Log(ctxTimeout(t, 300*time.Millisecond), Entry{Payload: payload}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Log in a full queue = %v, want ErrQueueFull after the deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Log(context.Background(), Entry{Payload: payload}) }()
	select {
	case err := <-done:
		t.Fatalf("blocking Log returned %v while the queue is full", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("blocking Log still waits after the agent confirmed")
	}
	mustFlush(t, c)
}

func TestQueueLimitCountsUnconfirmedEntries(t *testing.T) {
	a := startAgent(t)
	release := a.HoldFlushes()
	defer release()
	cfg := testConfig(a.Addr())
	cfg.QueueBytes = 64 << 10
	c := newClient(t, cfg)
	for range 1000 {
		c.Log(context.Background(), Entry{Payload: strings.Repeat("u", 300)})
	}
	s := c.Stats()
	if s.QueuedBytes > 64<<10 || s.Dropped["queue_full"] == 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestExampleProgramRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	a := startAgent(t)
	bin := filepath.Join(t.TempDir(), "basic")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/basic").CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/basic: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-addr", a.Addr()).CombinedOutput()
	if err != nil {
		t.Fatalf("examples/basic: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "logged 5 entries, 5 confirmed") {
		t.Errorf("examples/basic printed %q", out)
	}
	if n := len(a.Entries()); n != 5 {
		t.Errorf("agent got %d entries from the example, want 5", n)
	}
}

func TestCloseDoesNotWaitForAnUnansweredAuthentication(t *testing.T) {
	a := fakeagent.Start(t, fakeagent.Options{TCP: true, Secret: "0123456789abcdef0123456789abcdef"})
	a.SetUnresponsive(true)
	cfg := testConfig(a.Addr())
	cfg.SharedSecret = "0123456789abcdef0123456789abcdef"
	cfg.DialTimeout = 30 * time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustLog(t, c, Entry{Payload: "stuck"})
	time.Sleep(50 * time.Millisecond) // the sender is waiting for the auth answer
	t0 := time.Now()
	c.Close(ctxTimeout(t, 100*time.Millisecond))
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Close took %v with an authentication unanswered", d)
	}
}

// TestNothingLostUnderFaults logs from several goroutines while the agent
// refuses batches with queue_full, drops connections instead of answering
// flushes, and restarts; after a successful Flush every entry must have
// arrived (at least once).
func TestNothingLostUnderFaults(t *testing.T) {
	a := startAgent(t)
	cfg := testConfig(a.Addr())
	cfg.Connections = 3
	cfg.BatchBytes = 4 << 10
	cfg.QueueBytes = 4 << 20
	cfg.Block = true
	c := newClient(t, cfg)

	const writers, each = 4, 1500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := c.Log(ctxTimeout(t, 10*time.Second), Entry{Payload: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Errorf("Log: %v", err)
					return
				}
				if i%300 == 0 {
					c.Flush(ctxTimeout(t, 5*time.Second)) // may fail while the agent is down
				}
			}
		})
	}
	for round := range 5 {
		time.Sleep(20 * time.Millisecond)
		a.FailNextBatches("queue_full", "queue_full", "queue_full")
		a.DropNextFlushes(2)
		if round == 2 {
			a.Stop()
			time.Sleep(30 * time.Millisecond)
			a.Restart()
		}
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Flush(ctxTimeout(t, 5*time.Second))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Flush: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, e := range a.Entries() {
		seen[e.Payload] = true
	}
	missing := 0
	for w := range writers {
		for i := range each {
			if !seen[fmt.Sprintf("w%d-%d", w, i)] {
				missing++
			}
		}
	}
	s := c.Stats()
	if missing > 0 {
		t.Fatalf("%d of %d entries never arrived; stats %+v", missing, writers*each, s)
	}
	if s.Queued != 0 || s.QueuedBytes != 0 || len(s.Dropped) != 0 || len(s.Rejected) != 0 {
		t.Errorf("stats after the final Flush = %+v", s)
	}
	t.Logf("arrived %d times for %d entries; retried %v", len(a.Entries()), writers*each, s.Retried)
}

// countingHandler counts records logged through the default slog logger.
type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h countingHandler) WithGroup(string) slog.Handler             { return h }

func TestSDKNeverLogs(t *testing.T) {
	var n atomic.Int64
	prev := slog.Default()
	slog.SetDefault(slog.New(countingHandler{&n})) // also catches the log package
	defer slog.SetDefault(prev)

	a := fakeagent.Start(t, fakeagent.Options{TCP: true, Secret: "0123456789abcdef0123456789abcdef"})
	cfg := testConfig(a.Addr())
	cfg.SharedSecret = "wrong-wrong-wrong-wrong-wrong-wrong"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustLog(t, c, Entry{Payload: "refused"})
	c.Log(context.Background(), Entry{})
	c.Flush(ctxTimeout(t, time.Second))
	c.Close(ctxTimeout(t, time.Second))
	if n.Load() != 0 {
		t.Fatalf("the SDK logged %d records of its own", n.Load())
	}
}
