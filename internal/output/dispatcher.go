package output

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/queue"
)

// DeadLetter keeps records an output refused permanently, with the reason.
type DeadLetter interface {
	Put(output string, records [][]byte, reason error) error
}

// Counters are a dispatcher's running totals, safe to read at any time.
type Counters struct {
	Sent       atomic.Int64 // records delivered
	Failed     atomic.Int64 // failed write attempts
	Retried    atomic.Int64 // records written again after a failure
	DeadLetter atomic.Int64 // records given up on permanently
	Batches    atomic.Int64 // successful writes
	SendNanos  atomic.Int64 // total time spent in successful writes
	LastSend   atomic.Int64 // unix nanoseconds of the last successful write
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

	Counters Counters
}

// Run delivers records until the queue is closed and drained (nil) or ctx
// ends (ctx.Err()); records not delivered by then stay in the queue. An
// output that is Resumable, on a reader that keeps states, first resumes
// from the reader's state and then has its state committed with every
// position.
func (d *Dispatcher) Run(ctx context.Context) error {
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
			res.Resume(sr.State())
			sync := res.Sync
			commit = func() error { return sr.CommitState(res.State(), sync) }
		}
	}
	var lastErr string
	retrying := false
	for {
		recs, err := d.Reader.Next(ctx, d.MaxRecords, d.MaxBytes)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			return err
		}
		if retrying {
			d.Counters.Retried.Add(int64(len(recs)))
		}
		start := time.Now()
		err = d.Out.Write(ctx, recs)
		switch {
		case err == nil:
			d.Counters.Sent.Add(int64(len(recs)))
			d.Counters.Batches.Add(1)
			now := time.Now()
			d.Counters.SendNanos.Add(int64(now.Sub(start)))
			d.Counters.LastSend.Store(now.UnixNano())
			if retrying {
				log.Info("output recovered", "failures", d.Backoff.Failures())
				retrying, lastErr = false, ""
				d.Backoff.Reset()
			}
			if err := commit(); err != nil {
				return err
			}
		case IsPermanent(err):
			d.Counters.Failed.Add(1)
			var partial PartialRefusal
			if errors.As(err, &partial) {
				refused := make([][]byte, 0, len(partial.RefusedIndexes()))
				for _, i := range partial.RefusedIndexes() {
					if i >= 0 && i < len(recs) {
						refused = append(refused, recs[i])
					}
				}
				d.Counters.Sent.Add(int64(len(recs) - len(refused)))
				recs = refused
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
			d.Counters.Failed.Add(1)
			if ctx.Err() != nil {
				d.Reader.Rewind()
				return ctx.Err()
			}
			if msg := err.Error(); msg != lastErr {
				log.Warn("output failed; retrying", "error", err)
				lastErr = msg
			}
			retrying = true
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
