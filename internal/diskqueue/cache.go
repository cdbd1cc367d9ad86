package diskqueue

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

// chunk is the encoded bytes of one Append, at off in segment seg.
type chunk struct {
	seg     uint64
	off     int64
	data    []byte
	refs    int  // readers holding records that point into data
	evicted bool // no longer in the cache; data is reused once refs is 0
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
func (q *Queue) cacheLocked(seg uint64, off int64, data []byte) {
	if int64(cap(data)) > q.opts.CacheBytes {
		q.recycleLocked(data)
		return
	}
	q.cache = append(q.cache, &chunk{seg: seg, off: off, data: data})
	q.cacheBytes += int64(cap(data))
	n := 0
	for q.cacheBytes > q.opts.CacheBytes {
		c := q.cache[n]
		q.cacheBytes -= int64(cap(c.data))
		c.evicted = true
		if c.refs == 0 {
			q.recycleLocked(c.data)
		}
		n++
	}
	if n > 0 {
		m := copy(q.cache, q.cache[n:])
		clear(q.cache[m:])
		q.cache = q.cache[:m]
	}
}

// cachedLocked returns the chunk holding the record at p, with a reference
// taken, or nil when that record is not in the cache.
func (q *Queue) cachedLocked(p pos) *chunk {
	// Readers are usually near the tail: look from the newest chunk back.
	for i := len(q.cache) - 1; i >= 0; i-- {
		c := q.cache[i]
		if c.seg > p.seg || (c.seg == p.seg && c.off > p.off) {
			continue
		}
		if c.seg == p.seg && p.off < c.off+int64(len(c.data)) {
			c.refs++
			return c
		}
		return nil
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
