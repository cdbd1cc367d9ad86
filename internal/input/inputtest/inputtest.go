// Package inputtest runs an input against a real memory queue and reads back what it appended, for the tests of the inputs.
package inputtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/record"
)

// Sink is a memory queue that counts Syncs and can be told to refuse
// appends (as a full queue under the reject policy does).
type Sink struct {
	Q      *queue.Memory
	Syncs  atomic.Int64
	Refuse atomic.Bool // Append fails with queue.ErrFull while set

	mu   sync.Mutex
	r    queue.Reader
	seen []record.Entry
	raw  [][]byte
}

// NewSink returns a sink over a memory queue of maxBytes (reject policy).
func NewSink(t testing.TB, maxBytes int64) *Sink {
	q := queue.NewMemory(maxBytes, queue.Reject)
	r, err := q.Reader("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return &Sink{Q: q, r: r}
}

// Append appends to the queue unless Refuse is set.
func (s *Sink) Append(ctx context.Context, records [][]byte) error {
	if s.Refuse.Load() {
		return queue.ErrFull
	}
	return s.Q.Append(ctx, records)
}

// Sync counts and syncs.
func (s *Sink) Sync(ctx context.Context) error {
	s.Syncs.Add(1)
	return s.Q.Sync(ctx)
}

// Entries reads what the queue holds so far (committing it) and returns
// every entry read since the sink was made.
func (s *Sink) Entries(t testing.TB) []record.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.Q.Stats().Records > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		recs, err := s.r.Next(ctx, 1000, 64<<20)
		cancel()
		if err != nil {
			t.Fatalf("reading the queue: %v", err)
		}
		for _, rec := range recs {
			e, err := record.Parse(rec)
			if err != nil {
				t.Fatalf("record %s: %v", rec, err)
			}
			s.seen = append(s.seen, e)
			s.raw = append(s.raw, append([]byte(nil), rec...))
		}
		if err := s.r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return append([]record.Entry(nil), s.seen...)
}

// Wait returns the entries once there are at least n, failing the test
// after 10 seconds.
func (s *Sink) Wait(t testing.TB, n int) []record.Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es := s.Entries(t)
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d entries, want %d: %+v", len(es), n, es)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Start validates cfg, builds an input of f with set (Metrics and
// MaxAppendBytes filled in when unset) and starts it on a new Sink of
// 64 MiB; the input is shut down when the test ends.
func Start(t testing.TB, f input.Factory, cfg component.Config, set component.Settings) (input.Input, *Sink) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if set.Metrics == nil {
		set.Metrics = new(component.Metrics)
	}
	if set.MaxAppendBytes == 0 {
		set.MaxAppendBytes = 1 << 20
	}
	in, err := f.New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	sink := NewSink(t, 64<<20)
	if err := in.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return in, sink
}
