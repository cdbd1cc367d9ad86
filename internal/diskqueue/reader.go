package diskqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/logflux/agent/internal/queue"
)

// reader is one output's position. It reads segment files through its own
// handle and buffer, outside the queue lock, so readers never wait for each
// other and memory does not grow with the queue.
type reader struct {
	q    *Queue
	name string

	// Guarded by q.mu:
	committed pos          // everything before it is delivered
	state     []byte       // the output's state committed with it (queue.StateReader)
	durable   func() error // makes what state describes durable; nil: nothing to do
	dirty     bool         // committed changed since it was last written to disk
	written   pos          // the position last written to disk: a restart resumes there
	gen       uint64       // counts the commits that changed the position or state
	wroteGen  uint64       // gen of the position and state last written to disk
	writeErr  error        // why the last attempt to write them failed (nil after a success)
	dropped   bool         // DropReader removed this reader

	// Guarded by mu, which the caller's goroutine holds for a whole Next,
	// Commit or Rewind (lock order: mu, then q.mu):
	mu      sync.Mutex
	next    pos // where Next reads from
	pending pos // end of the records the last Next returned
	f       File
	fseg    uint64 // segment f is open on
	sr      *segReader
	arena   []byte   // payloads of the records last returned
	out     [][]byte // the records last returned
	held    []*chunk // cached chunks the records last returned point into
}

var _ queue.StateReader = (*reader)(nil)

func (q *Queue) newReader(name string) *reader {
	return &reader{q: q, name: name, sr: newSegReader(q.opts.ReadBufferBytes)}
}

// Next returns up to maxRecords records totalling at most maxBytes (at least
// one), waiting until one is available; see queue.Reader. If records are
// available it returns them even when ctx is already done.
func (r *reader) Next(ctx context.Context, maxRecords, maxBytes int) ([][]byte, error) {
	maxRecords = max(maxRecords, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	r.out, r.arena = r.out[:0], r.arena[:0]
	total := 0
	for len(r.out) < maxRecords {
		// Wait only for the first record; then take what is there.
		limit, c, data, ok, err := r.wait(ctx, len(r.out) == 0)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) {
				r.closeFile()
				if len(r.out) == 0 {
					r.skipPast()
				}
			}
			return nil, err
		}
		if !ok {
			break
		}
		var full bool
		if c != nil {
			full, err = r.readCached(c, data, maxRecords, maxBytes, &total)
		} else {
			full, err = r.read(limit, maxRecords, maxBytes, &total)
		}
		if err != nil {
			r.next = r.pending // hand nothing out: the next call starts over
			return nil, fmt.Errorf("diskqueue: reader %s: %w", r.name, err)
		}
		if full {
			break
		}
	}
	r.pending = r.next
	return r.out, nil
}

// wait returns the readable limit of the segment r.next is in, and the
// cached chunk that holds the record at r.next if there is one (held until
// the next release) with its bytes as of now, waiting for records when
// block is set; ok is false when there are none.
func (r *reader) wait(ctx context.Context, block bool) (limit int64, c *chunk, data []byte, ok bool, err error) {
	q := r.q
	q.mu.Lock()
	for {
		if q.closed || r.dropped {
			q.mu.Unlock()
			return 0, nil, nil, false, queue.ErrClosed
		}
		if limit, ok := q.locateLocked(&r.next); ok {
			if c = q.cachedLocked(r.next); c != nil {
				r.held = append(r.held, c)
				data = c.data
			}
			q.mu.Unlock()
			return limit, c, data, true, nil
		}
		if !block {
			q.mu.Unlock()
			return 0, nil, nil, false, nil
		}
		if q.closedW {
			q.mu.Unlock()
			return 0, nil, nil, false, queue.ErrClosed
		}
		ch := waitCh(&q.dataCh)
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, nil, nil, false, ctx.Err()
		}
		q.mu.Lock()
	}
}

// readCached appends records from the cached chunk c, starting at r.next,
// to r.out; full reports that maxRecords or maxBytes was reached. The
// records point into c: the bytes are the ones this process wrote, so they
// are neither read back nor checked again.
func (r *reader) readCached(c *chunk, data []byte, maxRecords, maxBytes int, total *int) (full bool, err error) {
	end := c.off + int64(len(data))
	for r.next.off < end {
		if len(r.out) >= maxRecords {
			return true, nil
		}
		rel := r.next.off - c.off
		h, ok := parseHeader(data[rel : rel+headerSize])
		if !ok || rel+headerSize+h.length > int64(len(data)) {
			// Cannot happen: the chunk holds whole records as encoded.
			return false, fmt.Errorf("cached record at segment %d offset %d is not whole", c.seg, r.next.off)
		}
		next := r.next.off + headerSize + h.length
		if h.seq < r.next.seq {
			r.next.off = next // read before (the position was rebuilt from its seq)
			continue
		}
		if len(r.out) > 0 && *total+int(h.length) > maxBytes {
			return true, nil
		}
		p := rel + headerSize
		r.out = append(r.out, data[p:p+h.length:p+h.length])
		*total += int(h.length)
		r.next = pos{seg: c.seg, off: next, seq: h.seq + 1}
	}
	return len(r.out) >= maxRecords, nil
}

// skipPast commits what this Next went past without returning anything
// (damaged bytes, records read before), when nothing returned earlier waits
// for a Commit: the queue is closed for writing, so no later Commit would
// move the position over them, and their segment would stay.
func (r *reader) skipPast() {
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || r.dropped || r.pending != r.committed || !r.committed.before(r.next) {
		return
	}
	r.committed, r.pending, r.dirty = r.next, r.next, true
	q.recomputeLowLocked()
	q.wake()
}

// release drops the cached chunks the records last returned point into.
func (r *reader) release() {
	if len(r.held) == 0 {
		return
	}
	r.q.mu.Lock()
	for _, c := range r.held {
		r.q.releaseLocked(c)
	}
	r.q.mu.Unlock()
	clear(r.held)
	r.held = r.held[:0]
}

// read appends records from r.next's segment, below limit, to r.out; full
// reports that maxRecords or maxBytes was reached.
func (r *reader) read(limit int64, maxRecords, maxBytes int, total *int) (full bool, err error) {
	seg := r.next.seg
	if r.f == nil || r.fseg != seg {
		r.closeFile()
		f, err := r.q.fs.OpenFile(segFile(r.q.dir, seg), os.O_RDONLY, 0)
		if err != nil {
			return false, fmt.Errorf("open segment: %w", err)
		}
		r.f, r.fseg = f, seg
		r.sr.reset(f)
	}
	for r.next.off < limit {
		if len(r.out) >= maxRecords {
			return true, nil
		}
		off := r.next.off
		h, err := r.sr.header(off, limit)
		if err == nil {
			end := off + headerSize + h.length
			switch {
			case h.seq < seg:
				// A whole record from before the segment began is a reused
				// file's old content: the segment ends here.
				if _, err = r.sr.payload(&h, off, limit, r.arena); err == nil {
					r.next.off = limit
					continue
				}
			case h.seq < r.next.seq:
				r.next.off = end // read before (the position was rebuilt from its seq)
				continue
			case len(r.out) > 0 && *total+int(h.length) > maxBytes:
				return true, nil
			default:
				var arena []byte
				arena, err = r.sr.payload(&h, off, limit, r.arena)
				if err == nil {
					n := len(r.arena)
					r.out = append(r.out, arena[n:len(arena):len(arena)])
					r.arena = arena
					*total += int(h.length)
					r.next = pos{seg: seg, off: end, seq: h.seq + 1}
					continue
				}
			}
		}
		if !errors.Is(err, errBad) {
			return false, err
		}
		next, ok, err := r.sr.resync(off+1, limit, seg)
		if err != nil {
			return false, err
		}
		if !ok {
			next = limit
		}
		r.q.mu.Lock()
		r.q.noteCorruptLocked(seg, off, next)
		r.q.mu.Unlock()
		r.next.off = next
	}
	return len(r.out) >= maxRecords, nil
}

// Commit marks the records returned by the last Next as delivered. The
// position reaches disk within CommitInterval (and at Close).
func (r *reader) Commit() error { return r.CommitState(nil, nil) }

// CommitState is Commit that keeps state with the position: both are
// written in one position file, after durable has returned nil; see
// queue.StateReader.
func (r *reader) CommitState(state []byte, durable func() error) error {
	if len(state) > queue.MaxStateBytes {
		return fmt.Errorf("diskqueue: state of %s has %d bytes, more than %d", r.name, len(state), queue.MaxStateBytes)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || r.dropped {
		return queue.ErrClosed
	}
	q.locateLocked(&r.pending) // the committed position may already be past a segment's end
	if r.pending.before(r.committed) {
		return fmt.Errorf("diskqueue: commit behind position of %s", r.name)
	}
	if r.pending == r.committed && bytes.Equal(state, r.state) && (state == nil) == (r.state == nil) {
		return nil
	}
	if state == nil {
		r.state = nil
	} else {
		r.state = append(r.state[:0], state...) // the syncer takes a copy (round)
	}
	r.durable = durable
	r.dirty = true
	r.gen++
	if r.pending == r.committed {
		return nil
	}
	r.committed = r.pending
	old := q.low
	q.recomputeLowLocked()
	if q.low != old {
		notify(&q.spaceCh)
		if len(q.segs) > 1 && q.segs[0].id < q.low.seg {
			q.wake() // a segment can be removed
		}
	}
	return nil
}

// CommitStateDurable is CommitState that waits until the syncer has written
// the position and state to disk (it runs a round for it at once); see
// queue.StateReader.
func (r *reader) CommitStateDurable(ctx context.Context, state []byte, durable func() error) error {
	if err := r.CommitState(state, durable); err != nil {
		return err
	}
	q := r.q
	q.mu.Lock()
	target := r.gen
	r.writeErr = nil
	q.persistNow = true
	for {
		switch {
		case r.wroteGen >= target:
			q.mu.Unlock()
			return nil
		case r.writeErr != nil:
			err := r.writeErr
			q.mu.Unlock()
			return err
		case q.syncerDone || r.dropped:
			q.mu.Unlock()
			return queue.ErrClosed
		}
		if err := q.awaitRoundLocked(ctx, &q.posDone); err != nil {
			return err
		}
	}
}

// State returns the state committed with the position the reader resumes
// from (nil when none); see queue.StateReader.
func (r *reader) State() []byte {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	return bytes.Clone(r.state)
}

// Rewind makes the next Next start again at the last committed record.
func (r *reader) Rewind() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	r.q.mu.Lock()
	r.next, r.pending = r.committed, r.committed
	r.q.mu.Unlock()
}

func (r *reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close() // read-only: nothing to lose
		r.f = nil
	}
}
