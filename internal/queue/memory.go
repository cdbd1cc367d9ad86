package queue

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is a Queue held in memory: fast, bounded in bytes, and lost on a crash.
type Memory struct {
	maxBytes int64
	policy   Policy

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever records are added or freed
	recs    [][]byte      // recs[i] has sequence number base+i
	chunks  []memChunk    // the buffers recs point into, oldest first
	spare   [][]byte      // emptied chunk buffers kept for reuse
	times   []int64       // times[i]: when recs[i] was appended, Unix nanoseconds
	off     int           // recs[:off] are freed and wait for compaction
	base    uint64        // sequence number of recs[off]
	bytes   int64
	readers map[string]*memReader
	closedW bool
	closed  bool
}

var (
	_ Queue       = (*Memory)(nil)
	_ StateReader = (*memReader)(nil)
)

// NewMemory returns a memory queue holding at most maxBytes of records.
func NewMemory(maxBytes int64, policy Policy) *Memory {
	if policy == "" {
		policy = Reject
	}
	return &Memory{
		maxBytes: maxBytes,
		policy:   policy,
		changed:  make(chan struct{}),
		readers:  map[string]*memReader{},
	}
}

func (q *Memory) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Append adds records as one unit; see Queue.
func (q *Memory) Append(ctx context.Context, records [][]byte) error {
	var size int64
	for _, r := range records {
		size += int64(len(r))
	}
	q.mu.Lock()
	for {
		if q.closedW || q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.bytes+size <= q.maxBytes {
			break
		}
		if q.policy != Block {
			q.mu.Unlock()
			return ErrFull
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	now := time.Now().UnixNano()
	for _, r := range records {
		c := q.chunkLocked(len(r))
		start := len(c.buf)
		c.buf = append(c.buf, r...) // within capacity: records handed out stay as they are
		q.recs = append(q.recs, c.buf[start:len(c.buf):len(c.buf)])
		q.times = append(q.times, now)
		c.end = q.base + uint64(len(q.recs)-q.off)
	}
	q.bytes += size
	q.notifyLocked()
	q.mu.Unlock()
	return nil
}

// Records are copied into chunks of memChunkBytes, one after another (a
// unit may span chunks), and a chunk whose records every reader has
// committed is used again: a steady stream of appends allocates nothing, so
// the garbage collector has nothing to chase. A record larger than
// ownChunkBytes gets a buffer of its own, so that the space left at the end
// of a chunk, which no record smaller than that fits, is at most an eighth
// of it: the memory held stays within an eighth of the bytes counted.
const (
	memChunkBytes = 256 << 10
	ownChunkBytes = memChunkBytes / 8
	maxSpare      = 4 // emptied chunks kept: a megabyte at most
)

// memChunk is a buffer holding the records before sequence number end.
type memChunk struct {
	buf []byte
	end uint64
}

// chunkLocked returns the chunk to copy a record of n bytes into: the
// newest one when it has room, else a new or reused one.
func (q *Memory) chunkLocked(n int) *memChunk {
	if k := len(q.chunks); k > 0 {
		if c := &q.chunks[k-1]; cap(c.buf)-len(c.buf) >= n {
			return c
		}
	}
	var buf []byte
	if n > ownChunkBytes {
		buf = make([]byte, 0, n)
	} else if k := len(q.spare); k > 0 {
		buf, q.spare = q.spare[k-1], q.spare[:k-1]
	} else {
		buf = make([]byte, 0, memChunkBytes)
	}
	q.chunks = append(q.chunks, memChunk{buf: buf})
	return &q.chunks[len(q.chunks)-1]
}

// releaseChunksLocked keeps for reuse the chunks whose records are all
// freed; their records were committed by every reader, so none is held.
func (q *Memory) releaseChunksLocked() {
	n := 0
	for n < len(q.chunks) && q.chunks[n].end <= q.base {
		if buf := q.chunks[n].buf; cap(buf) == memChunkBytes && len(q.spare) < maxSpare {
			q.spare = append(q.spare, buf[:0])
		}
		n++
	}
	if n > 0 {
		k := copy(q.chunks, q.chunks[n:])
		clear(q.chunks[k:])
		q.chunks = q.chunks[:k]
	}
}

// Sync returns at once: a memory queue has nothing to make durable.
func (q *Memory) Sync(ctx context.Context) error { return ctx.Err() }

// Reader returns the reader called name; see Queue.
func (q *Memory) Reader(name string) (Reader, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	if r, ok := q.readers[name]; ok {
		return r, nil
	}
	r := &memReader{q: q, name: name, next: q.base, committed: q.base}
	q.readers[name] = r
	return r, nil
}

// DropReader forgets the reader called name; see Queue.
func (q *Memory) DropReader(name string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.readers[name]
	if !ok {
		return nil
	}
	delete(q.readers, name)
	r.dropped = true
	if len(q.readers) == 0 {
		// Nobody holds the records any more: free them all.
		for i := q.off; i < len(q.recs); i++ {
			q.bytes -= int64(len(q.recs[i]))
			q.recs[i] = nil
		}
		q.base += uint64(len(q.recs) - q.off)
		q.off = len(q.recs)
		q.releaseChunksLocked()
		q.notifyLocked()
		return nil
	}
	q.freeLocked()
	q.notifyLocked()
	return nil
}

// OldestAge is how long the oldest record still held has waited; see Queue.
func (q *Memory) OldestAge() time.Duration {
	if st := q.Stats(); !st.Oldest.IsZero() {
		return max(time.Since(st.Oldest), 0)
	}
	return 0
}

// CloseWrite refuses further appends and lets readers drain.
func (q *Memory) CloseWrite() {
	q.mu.Lock()
	q.closedW = true
	q.notifyLocked()
	q.mu.Unlock()
}

// Close releases the queue; whatever was not delivered is lost.
func (q *Memory) Close() error {
	q.mu.Lock()
	q.closed, q.closedW = true, true
	q.recs, q.times, q.off = nil, nil, 0
	q.chunks, q.spare = nil, nil
	q.notifyLocked()
	q.mu.Unlock()
	return nil
}

// Stats reports the current depth.
func (q *Memory) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Stats{Records: int64(len(q.recs) - q.off), Bytes: q.bytes, MaxBytes: q.maxBytes}
	if st.Records > 0 {
		st.Oldest = time.Unix(0, q.times[q.off])
	}
	return st
}

// freeLocked drops the records every reader has committed.
func (q *Memory) freeLocked() {
	if len(q.readers) == 0 {
		return
	}
	low := ^uint64(0)
	for _, r := range q.readers {
		if r.committed < low {
			low = r.committed
		}
	}
	n := int(low - q.base)
	if n <= 0 {
		return
	}
	for i := q.off; i < q.off+n; i++ {
		q.bytes -= int64(len(q.recs[i]))
		q.recs[i] = nil
	}
	q.off += n
	q.base = low
	q.releaseChunksLocked()
	if q.off > 1024 && q.off > len(q.recs)/2 {
		if live := len(q.recs) - q.off; cap(q.recs) > 1<<16 && cap(q.recs) > 8*live {
			// After a backlog: give the large arrays back.
			q.recs = append(make([][]byte, 0, 2*live), q.recs[q.off:]...)
			q.times = append(make([]int64, 0, 2*live), q.times[q.off:]...)
		} else {
			// In place: a steady stream reuses the arrays.
			k := copy(q.recs, q.recs[q.off:])
			clear(q.recs[k:])
			q.recs = q.recs[:k]
			q.times = q.times[:copy(q.times, q.times[q.off:])]
		}
		q.off = 0
	}
	q.notifyLocked()
}

type memReader struct {
	q         *Memory
	name      string
	next      uint64 // sequence number Next reads from
	committed uint64 // everything before this is delivered
	pending   uint64 // end of the records handed out by the last Next
	state     []byte // kept with committed (see StateReader)
	out       [][]byte
	dropped   bool // DropReader forgot it: Next returns ErrClosed
}

func (r *memReader) Next(ctx context.Context, maxRecords, maxBytes int) ([][]byte, error) {
	q := r.q
	q.mu.Lock()
	for {
		if q.closed || r.dropped {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		end := q.base + uint64(len(q.recs)-q.off)
		if r.next < end {
			break
		}
		if q.closedW {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		q.mu.Lock()
	}
	r.out = r.out[:0]
	size := 0
	i := q.off + int(r.next-q.base)
	for ; i < len(q.recs) && len(r.out) < maxRecords; i++ {
		rec := q.recs[i]
		if len(r.out) > 0 && size+len(rec) > maxBytes {
			break
		}
		size += len(rec)
		r.out = append(r.out, rec)
	}
	r.next += uint64(len(r.out))
	r.pending = r.next
	q.mu.Unlock()
	return r.out, nil
}

func (r *memReader) Commit() error { return r.CommitState(nil, nil) }

// CommitState commits and keeps state in memory (nothing here is durable,
// so durable is never called); see StateReader.
func (r *memReader) CommitState(state []byte, _ func() error) error {
	if len(state) > MaxStateBytes {
		return fmt.Errorf("queue: state of %s has %d bytes, more than %d", r.name, len(state), MaxStateBytes)
	}
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if r.pending < r.committed {
		return fmt.Errorf("queue: commit behind position of %s", r.name)
	}
	r.committed = r.pending
	r.state = append(r.state[:0], state...)
	q.freeLocked()
	return nil
}

// CommitStateDurable is CommitState: nothing here is durable; see StateReader.
func (r *memReader) CommitStateDurable(_ context.Context, state []byte, durable func() error) error {
	return r.CommitState(state, durable)
}

// State returns the state committed with the reader's position.
func (r *memReader) State() []byte {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	if len(r.state) == 0 {
		return nil
	}
	return bytes.Clone(r.state)
}

func (r *memReader) Rewind() {
	r.q.mu.Lock()
	r.next = r.committed
	r.pending = r.committed
	r.q.mu.Unlock()
}
