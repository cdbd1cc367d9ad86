package logflux

import (
	"slices"
	"sync"
)

// The queue holds every entry from the Log call until the agent has
// confirmed it durable (or refused it, or it went to the fallback, or it was
// dropped at Close). Entries are encoded to JSON on the caller's goroutine
// and copied into chunks; a chunk is one batch in the making:
//
//	Log ──append──▶ tail ──seal──▶ sealed ──pop──▶ connection ──flush answer──▶ released
//	                                 ▲     (pending → unconfirmed)    │
//	                                 └────────── requeue ─────────────┘
//	                                   (connection lost, queue_full)
//
// A chunk's bytes stay charged from the first append to the release, so
// Config.QueueBytes bounds all the memory the SDK holds for entries,
// including what was sent but not yet confirmed.
//
// Flush generations: a chunk belongs to the generation current when it was
// opened. Flush seals the tail and starts a new generation; it is done when
// no chunk of its generation or an older one is outstanding. Chunks are
// opened and sealed one at a time, so generation order is seal order.

// Memory charged per entry and per chunk besides the entry's JSON bytes.
const (
	entryOverhead = 16
	chunkOverhead = 128
)

// chunk is up to 100 encoded entries separated by commas: the body of one
// batch, ready to go between `"entries":[` and `]`.
type chunk struct {
	buf  []byte
	ends []int // ends[i] is the end offset of entry i in buf
	seq  uint64
	gen  uint64
	cost int64 // bytes charged to the queue
}

func (c *chunk) len() int { return len(c.ends) }

// entry returns the JSON of entry i.
func (c *chunk) entry(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1] + 1
	}
	return c.buf[start:c.ends[i]]
}

type queue struct {
	maxBytes   int64
	batchBytes int
	changed    *signal // fired when memory is released

	mu          sync.Mutex // guards everything below
	bytes       int64
	entries     int
	logged      uint64
	tail        *chunk   // open chunk, or nil
	sealed      []*chunk // ready to send, in seq order
	seq         uint64
	gen         uint64         // current generation, from 1
	outstanding map[uint64]int // generation → chunks not yet released
	closed      bool
	free        []*chunk // chunks kept for reuse
	freeBytes   int64    // their buffers' capacity
}

func newQueue(maxBytes, batchBytes int, changed *signal) *queue {
	return &queue{
		maxBytes:    int64(maxBytes),
		batchBytes:  batchBytes,
		changed:     changed,
		gen:         1,
		outstanding: make(map[uint64]int),
	}
}

// push appends one encoded entry. It reports whether a chunk was sealed (the
// sender should be woken), and fails with ErrQueueFull or ErrClosed.
func (q *queue) push(enc []byte) (sealed bool, err error) {
	cost := int64(len(enc) + entryOverhead)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, ErrClosed
	}
	t := q.tail
	if t != nil && len(t.buf)+1+len(enc) > q.batchBytes {
		q.sealTail()
		sealed, t = true, nil
	}
	if t == nil {
		cost += chunkOverhead
	}
	if q.bytes+cost > q.maxBytes {
		return sealed, ErrQueueFull
	}
	if t == nil {
		t = q.open(len(enc))
	}
	if len(t.ends) > 0 {
		t.buf = append(t.buf, ',')
	}
	t.buf = append(t.buf, enc...)
	t.ends = append(t.ends, len(t.buf))
	t.cost += cost
	q.bytes += cost
	q.entries++
	q.logged++
	if len(t.ends) >= maxBatchEntries || len(t.buf) >= q.batchBytes {
		q.sealTail()
		sealed = true
	}
	return sealed, nil
}

// open starts a new tail chunk, sized for a full batch of entries like
// the first one (of size first) if it has to be made. q.mu is held.
func (q *queue) open(first int) *chunk {
	var c *chunk
	if n := len(q.free); n > 0 {
		c = q.free[n-1]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
		q.freeBytes -= int64(cap(c.buf))
	} else {
		size := min(q.batchBytes, max(4<<10, (first+1)*maxBatchEntries*5/4))
		c = &chunk{buf: make([]byte, 0, size), ends: make([]int, 0, maxBatchEntries)}
	}
	c.gen = q.gen
	q.outstanding[c.gen]++
	q.tail = c
	return c
}

// sealTail moves the tail to the sealed list. q.mu is held.
func (q *queue) sealTail() {
	c := q.tail
	q.tail = nil
	q.seq++
	c.seq = q.seq
	// A chunk sealed early by the timer or Flush may sit in a buffer grown
	// for a full batch; keep it in a right-sized copy instead.
	if cap(c.buf) > 64<<10 && cap(c.buf) > 4*len(c.buf) {
		big := c.buf
		c.buf = slices.Clone(c.buf)
		q.recycle(&chunk{buf: big[:0], ends: make([]int, 0, maxBatchEntries)})
	}
	q.sealed = append(q.sealed, c)
}

// sealIdle seals the tail if nothing else is waiting to be sent, so that an
// entry waits at most one flush interval. While the sender is behind (the
// agent is down or slow), the tail keeps filling instead of making small
// batches.
func (q *queue) sealIdle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail != nil && len(q.sealed) == 0 {
		q.sealTail()
		return true
	}
	return false
}

// sealForFlush seals the tail and starts a new generation. It returns the
// generation a Flush must wait for, and whether any of it is outstanding.
func (q *queue) sealForFlush() (gen uint64, pending bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail != nil {
		q.sealTail()
	}
	gen = q.gen
	q.gen++
	return gen, q.pendingLocked(gen)
}

// pending reports whether a chunk of generation gen or older is outstanding.
func (q *queue) pending(gen uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pendingLocked(gen)
}

func (q *queue) pendingLocked(gen uint64) bool {
	for g := range q.outstanding {
		if g <= gen {
			return true
		}
	}
	return false
}

// pop takes the first sealed chunk, or returns nil.
func (q *queue) pop() *chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sealed) == 0 {
		return nil
	}
	c := q.sealed[0]
	q.sealed[0] = nil
	q.sealed = q.sealed[1:]
	return c
}

// popAll takes every sealed chunk.
func (q *queue) popAll() []*chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	cs := q.sealed
	q.sealed = nil
	return cs
}

// sealedCount returns the number of chunks ready to send.
func (q *queue) sealedCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.sealed)
}

// oldestSealedGen returns the generation of the first sealed chunk.
func (q *queue) oldestSealedGen() (uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sealed) == 0 {
		return 0, false
	}
	return q.sealed[0].gen, true
}

// requeue puts chunks back to be sent again, in their original order.
func (q *queue) requeue(cs ...*chunk) {
	if len(cs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range cs {
		i := len(q.sealed)
		for i > 0 && q.sealed[i-1].seq > c.seq {
			i--
		}
		q.sealed = slices.Insert(q.sealed, i, c)
	}
}

// split cuts a chunk of two or more entries into two halves that replace it.
func (q *queue) split(c *chunk) (a, b *chunk) {
	mid := c.len() / 2
	cut := c.ends[mid-1]
	a = &chunk{buf: slices.Clone(c.buf[:cut]), ends: slices.Clone(c.ends[:mid]), seq: c.seq, gen: c.gen}
	b = &chunk{buf: slices.Clone(c.buf[cut+1:]), seq: c.seq, gen: c.gen}
	for _, e := range c.ends[mid:] {
		b.ends = append(b.ends, e-cut-1)
	}
	a.cost = chunkOverhead + int64(len(a.buf)-(a.len()-1)+entryOverhead*a.len())
	b.cost = chunkOverhead + int64(len(b.buf)-(b.len()-1)+entryOverhead*b.len())
	q.mu.Lock()
	q.bytes += a.cost + b.cost - c.cost
	q.outstanding[c.gen]++ // two chunks replace one
	q.recycle(c)
	q.mu.Unlock()
	return a, b
}

// release frees a chunk that needs no more sending.
func (q *queue) release(c *chunk) {
	q.mu.Lock()
	q.bytes -= c.cost
	q.entries -= c.len()
	if q.outstanding[c.gen]--; q.outstanding[c.gen] <= 0 {
		delete(q.outstanding, c.gen)
	}
	q.recycle(c)
	q.mu.Unlock()
	q.changed.fire()
}

// recycle keeps a chunk for reuse, as long as the buffers kept stay under
// a quarter of the queue's cap. q.mu is held.
func (q *queue) recycle(c *chunk) {
	if cap(c.buf) > 2*q.batchBytes || q.freeBytes+int64(cap(c.buf)) > q.maxBytes/4 {
		return
	}
	c.buf = c.buf[:0]
	c.ends = c.ends[:0]
	c.cost = 0
	q.free = append(q.free, c)
	q.freeBytes += int64(cap(c.buf))
}

// drain returns every chunk not yet taken by the sender, the tail included.
func (q *queue) drain() []*chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail != nil {
		q.sealTail()
	}
	cs := q.sealed
	q.sealed = nil
	return cs
}

// markClosed refuses further entries.
func (q *queue) markClosed() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// usage returns the entries held, the bytes charged and the entries logged.
func (q *queue) usage() (entries int, bytes int64, logged uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.entries, q.bytes, q.logged
}

// signal wakes every goroutine waiting for a change. Waiting allocates a
// channel only while someone waits.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next fire.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}
