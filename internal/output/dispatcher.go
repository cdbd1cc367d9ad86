package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/queue"
)

// DeadLetter keeps records an output refused permanently, with the reason.
type DeadLetter interface {
	Put(output string, records [][]byte, reason error) error
}

// failureStreak is a run of failed writes, logged when it starts and ends.
type failureStreak struct {
	failures int
	since    time.Time
	last     string
}

// sent counts n records delivered by a write that started at start.
func (d *Dispatcher) sent(n int, start time.Time) {
	if n > 0 {
		d.Counters.Delivered(n, start, time.Now())
	}
}

// Dispatcher moves records from one queue reader into one output.
type Dispatcher struct {
	Out        Output
	Reader     queue.Reader
	MaxRecords int             // records per Write (default 1000)
	MaxBytes   int             // bytes per Write (default 4 MiB)
	Backoff    backoff.Backoff // retry delays (default 100 ms doubling to 30 s)
	DeadLetter DeadLetter      // where permanent failures go; nil: logged and dropped
	Log        *slog.Logger
	// Match selects the records the output receives (nil: all). The
	// others are committed with the batch they came in, so they never
	// hold the output's queue position.
	Match func(record []byte) bool

	// Linger is how long to wait before reading again after a batch that
	// was not full (0: read again at once).
	Linger time.Duration

	Counters Counters
}

// tune takes an output's own batching and retry settings.
func (d *Dispatcher) tune(dl Delivery) {
	if dl.MaxRecords > 0 {
		d.MaxRecords = dl.MaxRecords
	}
	if dl.MaxBytes > 0 {
		d.MaxBytes = dl.MaxBytes
	}
	if dl.Linger > 0 {
		d.Linger = dl.Linger
	}
	if dl.Backoff.Base > 0 {
		d.Backoff = dl.Backoff
	}
}

// Run delivers records until the queue is closed and drained (nil) or ctx
// ends (ctx.Err()); records not delivered by then stay in the queue. An
// output that is Resumable, on a reader that keeps states, first resumes
// from the reader's state (or, when the reader has none yet, has the state
// it starts from made durable with the position before it writes) and then
// has its state committed with every position.
func (d *Dispatcher) Run(ctx context.Context) error {
	if t, ok := d.Out.(Tuned); ok {
		d.tune(t.Delivery())
	}
	if d.MaxRecords <= 0 {
		d.MaxRecords = 1000
	}
	if d.MaxBytes <= 0 {
		d.MaxBytes = 4 << 20
	}
	if d.Backoff.Base == 0 {
		d.Backoff = backoff.Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second}
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("output", d.Out.Name())
	commit := d.Reader.Commit
	if res, ok := d.Out.(Resumable); ok {
		if sr, ok := d.Reader.(queue.StateReader); ok {
			sync := res.Sync
			// With nothing recorded yet (a new reader, or a position written
			// without a state), what the output holds now is made durable
			// with the position before the first write, so that a crash
			// before the first position write is undone like any other.
			if st := sr.State(); st != nil {
				res.Resume(st)
			} else if err := sr.CommitStateDurable(ctx, res.State(), sync); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("cannot record where the output starts; a crash before its first position is written may repeat entries", "error", err)
			}
			commit = func() error { return sr.CommitState(res.State(), sync) }
		}
	}
	var streak failureStreak
	counted := 0 // records of the batch in flight already counted as sent
	var selected [][]byte
	short := false // the last batch was not full
	for {
		if short && d.Linger > 0 {
			// Let a batch fill: the output asked for fewer, larger requests.
			t := time.NewTimer(d.Linger)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		recs, err := d.Reader.Next(ctx, d.MaxRecords, d.MaxBytes)
		short = len(recs) < d.MaxRecords
		if err != nil {
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			return err
		}
		skipped := 0
		if d.Match != nil {
			selected = selected[:0]
			for _, r := range recs {
				if d.Match(r) {
					selected = append(selected, r)
				}
			}
			skipped, recs = len(recs)-len(selected), selected
			if len(recs) == 0 {
				// Nothing for this output: move past them at once.
				d.Counters.Filtered.Add(int64(skipped))
				if err := commit(); err != nil {
					return err
				}
				continue
			}
		}
		if streak.failures > 0 {
			d.Counters.Retried.Add(int64(len(recs) - counted))
		}
		start := time.Now()
		err = d.Out.Write(ctx, recs)
		switch {
		case err == nil:
			d.sent(len(recs)-counted, start)
			d.Counters.Batches.Add(1)
			d.Counters.Filtered.Add(int64(skipped))
			counted = 0
			if streak.failures > 0 {
				log.Info(fmt.Sprintf("output recovered: delivered after %d failures over %s", streak.failures, time.Since(streak.since).Round(time.Second)),
					"failures", streak.failures, "last_error", streak.last)
				streak = failureStreak{}
				d.Backoff.Reset()
			}
			if err := commit(); err != nil {
				return err
			}
		case IsPermanent(err):
			d.Counters.Fail(err)
			var partial PartialRefusal
			if errors.As(err, &partial) {
				refused := make([][]byte, 0, len(partial.RefusedIndexes()))
				for _, i := range partial.RefusedIndexes() {
					if i >= 0 && i < len(recs) {
						refused = append(refused, recs[i])
					}
				}
				d.sent(len(recs)-len(refused)-counted, start)
				recs = refused
			}
			counted = 0
			d.Counters.Filtered.Add(int64(skipped))
			if streak.failures > 0 {
				streak = failureStreak{} // the batch is settled: the next failure is news
				d.Backoff.Reset()
			}
			d.Counters.DeadLetter.Add(int64(len(recs)))
			if d.DeadLetter != nil {
				if dlErr := d.DeadLetter.Put(d.Out.Name(), recs, err); dlErr != nil {
					log.Error("dead-letter store failed; entries dropped", "entries", len(recs), "reason", err, "error", dlErr)
				}
			} else {
				log.Error("output refused entries permanently; dropped", "entries", len(recs), "reason", err)
			}
			if err := commit(); err != nil {
				return err
			}
		default:
			d.Counters.Fail(err)
			if n := DeliveredBefore(err); n > 0 {
				d.sent(n, start)
				counted += n
			}
			if ctx.Err() != nil {
				d.Reader.Rewind()
				return ctx.Err()
			}
			// One line when a failure starts, one when it ends; what
			// happens in between is at debug level.
			if streak.failures == 0 {
				streak.since = start
				log.Warn("output failed; retrying until it recovers", "error", err)
			} else {
				log.Debug("output still failing", "failures", streak.failures+1, "error", err)
			}
			streak.failures++
			streak.last = err.Error()
			delay := d.Backoff.Next()
			if after := RetryAfter(err); after > delay {
				delay = after
			}
			d.Reader.Rewind()
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
}
