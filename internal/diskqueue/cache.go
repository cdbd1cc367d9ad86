package diskqueue

import "sort"

// The tail cache keeps the bytes of the latest Appends in memory, exactly as
// they were written to their segment, so that a reader keeping up with the
// writer takes its records from there: no read from the file, no second
// checksum, no copy (the records handed out point into the cached bytes).
// A reader that falls further behind than the cache holds reads the segment
// files as before. All of it is guarded by Queue.mu.

// DefaultCacheBytes is the size of the tail cache.
const DefaultCacheBytes = 2 << 20

// maxFreeChunks bounds the encoding buffers kept for reuse.
const maxFreeChunks = 4

// packBytes is the size of the chunks that small Appends share: a slow
// client's one-record Appends are packed together instead of each taking a
// buffer of its own.
const packBytes = 64 << 10

// chunk is the encoded bytes of one Append, or of several small ones in a
// row, at off in segment seg. Appends only ever add bytes after len(data),
// within its capacity, so a reader's snapshot of data stays valid.
type chunk struct {
	seg     uint64
	off     int64
	data    []byte
	refs    int  // readers holding records that point into data
	evicted bool // no longer in the cache; data is reused once refs is 0
}

// encodeTargetLocked returns where to encode an Append of n bytes that goes
// at off in segment seg: the end of an open packed chunk (c != nil; the
// bytes are cached once the Append succeeds by setting c.data), or a buffer
// of its own (c == nil; cacheLocked takes it afterwards).
func (q *Queue) encodeTargetLocked(seg uint64, off, n int64) (c *chunk, buf []byte) {
	if n > packBytes/2 || q.opts.CacheBytes < 2*packBytes {
		return nil, q.encodeBufLocked(n)
	}
	if k := len(q.cache); k > q.cacheHead {
		c := q.cache[k-1]
		if !c.evicted && c.seg == seg && c.off+int64(len(c.data)) == off && int64(cap(c.data)-len(c.data)) >= n {
			return c, c.data
		}
	}
	c = q.cacheLocked(seg, off, q.encodeBufLocked(packBytes))
	return c, c.data
}

// encodeBufLocked returns an empty buffer of capacity at least n to encode
// an Append into. Capacities are powers of two from 4 KiB, so that a kept
// buffer fits the next Append of about the same size and the garbage
// collector rarely sees one.
func (q *Queue) encodeBufLocked(n int64) []byte {
	size := int64(4 << 10)
	for size < n {
		size *= 2
	}
	for i := len(q.freeBufs) - 1; i >= 0; i-- {
		if b := q.freeBufs[i]; int64(cap(b)) == size {
			q.freeBufs = append(q.freeBufs[:i], q.freeBufs[i+1:]...)
			return b[:0]
		}
	}
	return make([]byte, 0, size)
}

// recycleLocked keeps buf for a later Append, unless it is larger than the
// cache itself; beyond maxFreeChunks, the oldest kept one is dropped.
func (q *Queue) recycleLocked(buf []byte) {
	if int64(cap(buf)) > max(q.opts.CacheBytes, 64<<10) {
		return
	}
	if len(q.freeBufs) == maxFreeChunks {
		copy(q.freeBufs, q.freeBufs[1:])
		q.freeBufs = q.freeBufs[:maxFreeChunks-1]
	}
	q.freeBufs = append(q.freeBufs, buf[:0])
}

// cacheLocked adds the bytes just written at off in segment seg, and evicts
// the oldest chunks beyond the cache's size.
// The cache's size counts the buffers' capacity, which is what they cost.
// It returns the new chunk (nil if data is larger than the whole cache).
func (q *Queue) cacheLocked(seg uint64, off int64, data []byte) *chunk {
	if int64(cap(data)) > q.opts.CacheBytes {
		q.recycleLocked(data)
		return nil
	}
	nc := &chunk{seg: seg, off: off, data: data}
	q.cache = append(q.cache, nc)
	q.cacheBytes += int64(cap(data))
	for q.cacheBytes > q.opts.CacheBytes {
		c := q.cache[q.cacheHead]
		q.cache[q.cacheHead] = nil
		q.cacheHead++
		q.cacheBytes -= int64(cap(c.data))
		c.evicted = true
		if c.refs == 0 {
			q.recycleLocked(c.data)
		}
	}
	if q.cacheHead > len(q.cache)/2 {
		// Move the live part to the front now and then: amortised O(1).
		n := copy(q.cache, q.cache[q.cacheHead:])
		clear(q.cache[n:])
		q.cache, q.cacheHead = q.cache[:n], 0
	}
	return nc
}

// cachedLocked returns the chunk holding the record at p, with a reference
// taken, or nil when that record is not in the cache.
func (q *Queue) cachedLocked(p pos) *chunk {
	live := q.cache[q.cacheHead:]
	// The chunks are in append order, so ordered by (segment, offset): find
	// the last one that starts at or before p.
	i := sort.Search(len(live), func(i int) bool {
		c := live[i]
		return c.seg > p.seg || (c.seg == p.seg && c.off > p.off)
	}) - 1
	if i < 0 {
		return nil
	}
	if c := live[i]; c.seg == p.seg && p.off < c.off+int64(len(c.data)) {
		c.refs++
		return c
	}
	return nil
}

// releaseLocked drops a reference taken by cachedLocked.
func (q *Queue) releaseLocked(c *chunk) {
	c.refs--
	if c.refs == 0 && c.evicted {
		q.recycleLocked(c.data)
		c.data = nil
	}
}
