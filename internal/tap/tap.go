// Package tap fans the entries the agent accepts out to live subscribers (logflux-agent tap), each with a bounded buffer that loses its own entries, never the pipeline's.
package tap

import (
	"context"
	"sync"
	"sync/atomic"
)

// Hub is where the pipeline publishes accepted records and taps subscribe.
// With no subscriber, publishing costs one atomic load.
type Hub struct {
	mu   sync.Mutex                    // serialises Subscribe and Close
	subs atomic.Pointer[[]*Subscriber] // replaced whole (copy on write)
}

// Batch is one append's records, copied once for every subscriber.
type Batch struct {
	Input string // the input the records came from
	data  []byte
	ends  []int
}

// Len is the number of records in b.
func (b *Batch) Len() int { return len(b.ends) }

// Record returns b's i-th record (do not modify it: subscribers share it).
func (b *Batch) Record(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.data[start:b.ends[i]]
}

// Publish offers records, which came from input, to every subscriber without
// waiting: a subscriber whose buffer is full loses them and counts them. The
// records are copied once, and only when some subscriber has room for them,
// so the caller may reuse them at once and a stuck tap costs next to nothing.
func (h *Hub) Publish(input string, records [][]byte) {
	subs := h.subs.Load()
	if subs == nil || len(*subs) == 0 || len(records) == 0 {
		return
	}
	size := 0
	for _, r := range records {
		size += len(r)
	}
	var room [8]*Subscriber
	takers := room[:0]
	for _, s := range *subs {
		if s.reserve(size, len(records)) {
			takers = append(takers, s)
		}
	}
	if len(takers) == 0 {
		return
	}
	b := &Batch{Input: input, data: make([]byte, 0, size), ends: make([]int, 0, len(records))}
	for _, r := range records {
		b.data = append(b.data, r...)
		b.ends = append(b.ends, len(b.data))
	}
	for _, s := range takers {
		s.deliver(b)
	}
}

// Subscribe adds a subscriber whose buffer holds at most maxBytes of records
// not yet taken. Close it when done.
func (h *Hub) Subscribe(maxBytes int) *Subscriber {
	s := &Subscriber{hub: h, max: maxBytes, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	var next []*Subscriber
	if cur := h.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	h.subs.Store(&next)
	return s
}

// Subscribers is how many taps are attached now.
func (h *Hub) Subscribers() int {
	if cur := h.subs.Load(); cur != nil {
		return len(*cur)
	}
	return 0
}

func (h *Hub) remove(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.subs.Load()
	if cur == nil {
		return
	}
	next := make([]*Subscriber, 0, len(*cur))
	for _, x := range *cur {
		if x != s {
			next = append(next, x)
		}
	}
	h.subs.Store(&next)
}

// Subscriber is one tap's view of the hub.
type Subscriber struct {
	hub   *Hub
	max   int
	ready chan struct{} // holds a token when pending is not empty

	mu      sync.Mutex
	pending []*Batch
	bytes   int

	dropped atomic.Int64
	closed  atomic.Bool
}

// reserve takes room for size bytes of n records, or counts them lost.
func (s *Subscriber) reserve(size, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+size > s.max {
		s.dropped.Add(int64(n))
		return false
	}
	s.bytes += size
	return true
}

// deliver hands over a batch whose room reserve took.
func (s *Subscriber) deliver(b *Batch) {
	s.mu.Lock()
	s.pending = append(s.pending, b)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value when records may be pending; then call Take.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Take takes every batch pending (none if there are none) and frees the
// buffer's room at once.
func (s *Subscriber) Take() []*Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.pending
	s.pending = nil
	for _, b := range got {
		s.bytes -= len(b.data) // room reserved for batches not yet delivered stays taken
	}
	return got
}

// Dropped is how many records this subscriber lost because its buffer was full.
func (s *Subscriber) Dropped() int64 { return s.dropped.Load() }

// Close detaches s from the hub.
func (s *Subscriber) Close() {
	if s.closed.CompareAndSwap(false, true) {
		s.hub.remove(s)
	}
}

// Appender is the intake side of the queue (intake.Sink).
type Appender interface {
	Append(ctx context.Context, records [][]byte) error
	Sync(ctx context.Context) error
}

// seqAppender is an Appender that numbers its records (input.SeqSink).
type seqAppender interface {
	Appender
	AppendNumbered(ctx context.Context, records [][]byte, before func(last uint64)) error
	RecoveredSeq() uint64
}

// Sink returns next with every append it accepts also published to h as
// coming from input. When next numbers its records (input.SeqSink), so
// does the Appender returned.
func (h *Hub) Sink(next Appender, input string) Appender {
	s := &sink{Appender: next, hub: h, input: input}
	if sq, ok := next.(seqAppender); ok {
		return &seqSink{sink: s, seq: sq}
	}
	return s
}

// seqSink is a sink whose next numbers its records.
type seqSink struct {
	*sink
	seq seqAppender
}

func (s *seqSink) AppendNumbered(ctx context.Context, records [][]byte, before func(last uint64)) error {
	err := s.seq.AppendNumbered(ctx, records, before)
	if err == nil {
		s.hub.Publish(s.input, records)
	}
	return err
}

func (s *seqSink) RecoveredSeq() uint64 { return s.seq.RecoveredSeq() }

type sink struct {
	Appender
	hub   *Hub
	input string
}

func (s *sink) Append(ctx context.Context, records [][]byte) error {
	err := s.Appender.Append(ctx, records)
	if err == nil {
		s.hub.Publish(s.input, records)
	}
	return err
}
