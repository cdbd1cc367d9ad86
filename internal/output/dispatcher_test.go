package output_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
)

// flaky fails a set number of times, then records what it gets.
type flaky struct {
	mu       sync.Mutex
	failures []error
	got      []string
}

func (f *flaky) Name() string                { return "flaky" }
func (f *flaky) Close(context.Context) error { return nil }
func (f *flaky) Write(_ context.Context, recs [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		return err
	}
	for _, r := range recs {
		f.got = append(f.got, string(r))
	}
	return nil
}

type dlq struct {
	got    []string
	reason error
}

func (d *dlq) Put(_ string, recs [][]byte, reason error) error {
	for _, r := range recs {
		d.got = append(d.got, string(r))
	}
	d.reason = reason
	return nil
}

func run(t *testing.T, out output.Output, dl output.DeadLetter, recs ...string) *output.Dispatcher {
	t.Helper()
	q := queue.NewMemory(1<<20, queue.Reject)
	r, _ := q.Reader(out.Name())
	for _, s := range recs {
		q.Append(context.Background(), [][]byte{[]byte(s)})
	}
	q.CloseWrite()
	d := &output.Dispatcher{Out: out, Reader: r, DeadLetter: dl, MaxRecords: 2,
		Backoff: backoff.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	return d
}

func TestRetriesUntilDelivered(t *testing.T) {
	f := &flaky{failures: []error{errors.New("down"), output.Retryable(errors.New("busy"), 2*time.Millisecond), errors.New("down")}}
	d := run(t, f, nil, "a", "b", "c")
	if len(f.got) != 3 || f.got[0] != "a" || f.got[2] != "c" {
		t.Fatalf("delivered %q", f.got)
	}
	if d.Counters.Failed.Load() != 3 || d.Counters.Sent.Load() != 3 || d.Counters.Retried.Load() != 6 { // three retries of the first two
		t.Errorf("counters failed=%d sent=%d retried=%d", d.Counters.Failed.Load(), d.Counters.Sent.Load(), d.Counters.Retried.Load())
	}
	// Failures by reason: two plain errors, one the backend asked to wait.
	if tr, th := d.Counters.Failures(output.FailTransient), d.Counters.Failures(output.FailThrottled); tr != 2 || th != 1 {
		t.Errorf("failures transient=%d throttled=%d, want 2 and 1", tr, th)
	}
	// Two writes delivered: a batch of two, then one.
	b := d.Counters.BatchEntries()
	if b.Count != 2 || b.Sum != 3 || b.Buckets[1] != 1 || b.Buckets[5] != 2 {
		t.Errorf("batch histogram %+v", b)
	}
	if lat := d.Counters.SendSeconds(); lat.Count != 2 || lat.Buckets[30] != 2 {
		t.Errorf("latency histogram %+v", lat)
	}
}

func TestFailureReasons(t *testing.T) {
	for _, c := range []struct {
		err  error
		want output.FailureReason
	}{
		{output.Permanent(errors.New("400")), output.FailPermanent},
		{output.Retryable(errors.New("429"), time.Second), output.FailThrottled},
		{output.Retryable(throttled{}, 0), output.FailThrottled},
		{output.Retryable(context.DeadlineExceeded, 0), output.FailTimeout},
		{output.Retryable(output.Timeout(errors.New("no acknowledgement within 5s")), 0), output.FailTimeout},
		{output.Retryable(&net.OpError{Op: "dial", Err: timeoutErr{}}, 0), output.FailTimeout},
		{errors.New("connection refused"), output.FailTransient},
	} {
		if got := output.ReasonOf(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, output.FailureReasons[got], output.FailureReasons[c.want])
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

type throttled struct{}

func (throttled) Error() string   { return "HTTP 429" }
func (throttled) Throttled() bool { return true }

func TestPermanentGoesToDeadLetter(t *testing.T) {
	f := &flaky{failures: []error{output.Permanent(errors.New("400 bad request"))}}
	dl := &dlq{}
	d := run(t, f, dl, "a", "b", "c")
	if len(dl.got) != 2 || !output.IsPermanent(dl.reason) {
		t.Fatalf("dead letters %q (%v)", dl.got, dl.reason)
	}
	if len(f.got) != 1 || f.got[0] != "c" {
		t.Fatalf("later entries not delivered: %q", f.got)
	}
	if d.Counters.DeadLetter.Load() != 2 {
		t.Errorf("dead-letter counter %d", d.Counters.DeadLetter.Load())
	}
}

func TestRunStopsOnContextKeepingEntries(t *testing.T) {
	f := &flaky{failures: make([]error, 1000)}
	for i := range f.failures {
		f.failures[i] = errors.New("down")
	}
	q := queue.NewMemory(1<<20, queue.Reject)
	r, _ := q.Reader("flaky")
	q.Append(context.Background(), [][]byte{[]byte("kept")})
	d := &output.Dispatcher{Out: f, Reader: r, Backoff: backoff.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v", err)
	}
	if st := q.Stats(); st.Records != 1 {
		t.Fatalf("undelivered entry dropped: %+v", st)
	}
}

// halfway delivers the first record of each batch and then fails, until
// told to succeed, like an output that remembers what it delivered.
type halfway struct {
	fails int
	done  map[string]bool
	probe func() // called at the start of each Write
}

func (h *halfway) Name() string                { return "halfway" }
func (h *halfway) Close(context.Context) error { return nil }
func (h *halfway) Write(_ context.Context, recs [][]byte) error {
	h.probe()
	if h.fails == 0 {
		return nil
	}
	h.fails--
	n := 0
	for _, r := range recs {
		if !h.done[string(r)] {
			h.done[string(r)] = true
			n++
			break
		}
	}
	return &output.RetryableError{Err: errors.New("half down at 127.0.0.1:" + string(rune('0'+h.fails))), Delivered: n}
}

// TestCountsPerEntryAndLogsOnce: entries a failing batch delivered are
// counted at once (not only when the batch succeeds), never twice; the
// outage is logged once when it starts and once when it ends, with the
// output's name, whatever the errors' texts.
func TestCountsPerEntryAndLogsOnce(t *testing.T) {
	var logs strings.Builder
	h := &halfway{fails: 2, done: map[string]bool{}}
	q := queue.NewMemory(1<<20, queue.Reject)
	r, _ := q.Reader(h.Name())
	q.Append(context.Background(), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	q.CloseWrite()
	d := &output.Dispatcher{Out: h, Reader: r, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Backoff: backoff.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond}}
	// The counter as the second attempt starts, after one failed write
	// that delivered one entry.
	var sentBefore []int64
	h.probe = func() { sentBefore = append(sentBefore, d.Counters.Sent.Load()) }
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sentBefore[1]; n != 1 {
		t.Errorf("sent = %d after a failed batch that delivered an entry; want it counted at once", n)
	}
	if n := d.Counters.Sent.Load(); n != 3 {
		t.Errorf("sent = %d; want 3 (each entry once)", n)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="output failed; retrying until it recovers" output=halfway`); n != 1 {
		t.Errorf("failure logged %d times; want once:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="output recovered: delivered after 2 failures over`); n != 1 {
		t.Errorf("recovery logged %d times; want once:\n%s", n, out)
	}
}

// TestUnmatchedDoNotHoldThePosition: records the match passes over are
// committed at once, so they free the queue even though the output never
// receives them.
func TestUnmatchedDoNotHoldThePosition(t *testing.T) {
	f := &flaky{}
	q := queue.NewMemory(1<<20, queue.Reject)
	r, _ := q.Reader(f.Name())
	for _, s := range []string{"skip-1", "take-1", "skip-2", "skip-3"} {
		q.Append(context.Background(), [][]byte{[]byte(s)})
	}
	q.CloseWrite()
	d := &output.Dispatcher{Out: f, Reader: r, MaxRecords: 2, Match: func(rec []byte) bool { return strings.HasPrefix(string(rec), "take") }}
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 1 || f.got[0] != "take-1" {
		t.Errorf("delivered %q; want only take-1", f.got)
	}
	if st := q.Stats(); st.Records != 0 {
		t.Errorf("%d records still held after the run", st.Records)
	}
	if d.Counters.Filtered.Load() != 3 || d.Counters.Sent.Load() != 1 {
		t.Errorf("filtered %d, sent %d; want 3 and 1", d.Counters.Filtered.Load(), d.Counters.Sent.Load())
	}
}
