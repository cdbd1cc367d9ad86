package output

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Counters are a dispatcher's running totals, safe to read at any time.
type Counters struct {
	Sent       atomic.Int64 // records delivered
	Filtered   atomic.Int64 // records passed over: the output's match did not select them
	Failed     atomic.Int64 // failed write attempts (all reasons)
	Retried    atomic.Int64 // records written again after a failure
	DeadLetter atomic.Int64 // records given up on permanently
	Batches    atomic.Int64 // successful writes
	LastSend   atomic.Int64 // unix nanoseconds of the last successful write

	failures     [numFailureReasons]atomic.Int64
	batchEntries histogram // records delivered per write that delivered any
	sendTime     histogram // nanoseconds of each write that delivered any
}

// Failures returns the failed write attempts for one reason.
func (c *Counters) Failures(r FailureReason) int64 { return c.failures[r].Load() }

// Fail counts a failed write attempt, by the reason its error gives.
func (c *Counters) Fail(err error) {
	c.Failed.Add(1)
	c.failures[ReasonOf(err)].Add(1)
}

// BatchEntries is the histogram of records delivered per write.
func (c *Counters) BatchEntries() HistogramSnapshot {
	return c.batchEntries.snapshot(batchEntryBounds, 1)
}

// SendSeconds is the histogram of the time of the writes that delivered
// records, in seconds.
func (c *Counters) SendSeconds() HistogramSnapshot { return c.sendTime.snapshot(sendTimeBounds, 1e9) }

// Delivered counts n records (n > 0) delivered by one write that started
// at start and ended at end: one observation of each histogram.
func (c *Counters) Delivered(n int, start, end time.Time) {
	c.Sent.Add(int64(n))
	c.batchEntries.observe(batchEntryBounds, int64(n))
	c.sendTime.observe(sendTimeBounds, int64(end.Sub(start)))
	c.LastSend.Store(end.UnixNano())
}

// histogram counts observations into fixed buckets with atomic adds only,
// so that a dispatcher can observe every batch and a scrape read it at any
// time. Its zero value is ready; the bounds (at most maxBounds, ascending,
// inclusive) are given with each call, always the same ones for one
// histogram. Values are integers (entries, nanoseconds).
type histogram struct {
	counts [maxBounds]atomic.Uint64
	sum    atomic.Int64
	count  atomic.Uint64
}

const maxBounds = 16

func (h *histogram) observe(bounds []int64, v int64) {
	for i, b := range bounds {
		if v <= b {
			h.counts[i].Add(1)
			break
		}
	}
	h.sum.Add(v)
	h.count.Add(1)
}

// HistogramSnapshot is a histogram read at one time, in exported units:
// what prometheus.MustNewConstHistogram takes.
type HistogramSnapshot struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64 // upper bound → observations at or below it
}

// snapshot reads h, each value divided by per (per exported unit: 1e9
// for nanoseconds exported as seconds; a division keeps 0.0005 and 30
// exact). Reads made while observations go on may be a batch apart; the
// count is never below the last bucket.
func (h *histogram) snapshot(bounds []int64, per float64) HistogramSnapshot {
	s := HistogramSnapshot{Buckets: make(map[float64]uint64, len(bounds))}
	var cum uint64
	for i, b := range bounds {
		cum += h.counts[i].Load()
		s.Buckets[float64(b)/per] = cum
	}
	s.Count = max(h.count.Load(), cum)
	s.Sum = float64(h.sum.Load()) / per
	return s
}

// The buckets of the dispatcher's histograms: batches from one entry to
// fifty thousand (batch.max_entries), and deliveries from half a
// millisecond (a local server) to thirty seconds (the default timeout).
var (
	batchEntryBounds = []int64{1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000}
	sendTimeBounds   = []int64{
		int64(500 * time.Microsecond), int64(time.Millisecond), int64(2500 * time.Microsecond), int64(5 * time.Millisecond),
		int64(10 * time.Millisecond), int64(25 * time.Millisecond), int64(50 * time.Millisecond), int64(100 * time.Millisecond),
		int64(250 * time.Millisecond), int64(500 * time.Millisecond), int64(time.Second), int64(2500 * time.Millisecond),
		int64(5 * time.Second), int64(10 * time.Second), int64(30 * time.Second),
	}
)

// FailureReason is why a Write failed, as the metrics label it.
type FailureReason int

// The reasons, in the order of FailureReasons.
const (
	FailPermanent FailureReason = iota // refused for good: dead-lettered
	FailThrottled                      // the backend asked to slow down (429, Retry-After)
	FailTimeout                        // no answer in time
	FailTransient                      // any other retryable failure (connection refused, 5xx, broker errors)
	numFailureReasons
)

// FailureReasons are the label values of the reasons.
var FailureReasons = [numFailureReasons]string{"permanent", "throttled", "timeout", "transient"}

// Throttler is implemented by an error that says the backend throttled the
// request (an HTTP 429 without Retry-After, for instance).
type Throttler interface{ Throttled() bool }

// TimeoutError is a Write that got no answer within the output's timeout
// (Timeout wraps an error as one).
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }
func (e *TimeoutError) Timeout() bool { return true }

// Timeout marks err as a wait for an answer that ran out of time.
func Timeout(err error) error {
	if err == nil {
		return nil
	}
	return &TimeoutError{Err: err}
}

// ReasonOf classifies a failed Write's error by its type.
func ReasonOf(err error) FailureReason {
	var th Throttler
	var to interface{ Timeout() bool } // net.Error, TimeoutError
	switch {
	case IsPermanent(err):
		return FailPermanent
	case RetryAfter(err) > 0 || errors.As(err, &th) && th.Throttled():
		return FailThrottled
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &to) && to.Timeout():
		return FailTimeout
	}
	return FailTransient
}
