// Package diskqueue is a queue.Queue kept durably on disk in append-only, checksummed segment files, with one persisted read position per reader.
package diskqueue

// On-disk format
//
// The queue owns one directory:
//
//	dir/
//	  00000000000000000001.seg   segment created when the next sequence number was 1
//	  00000000000000004711.seg   the next one: every record in it has seq >= 4711
//	  reader-forwarder.pos       committed position of reader "forwarder"
//	  reader-file.pos            committed position of reader "file"
//	  00000000000000000815.spare a drained segment kept to be written over
//
// A segment holds records back to back and is only ever appended to. Append
// writes all its records with one write into one segment, starting a new
// segment first when they would not fit in SegmentBytes (a unit larger than
// that gets a segment of its own): records, and Appends, never span segments,
// so a crash can tear only the end of the segment being written.
//
// A segment every reader is done with is not deleted but renamed to a spare
// (at most one is kept; it is reused only once that name is durable, and
// Open removes spares), and the next segment is that file renamed again and
// written over from its start: writing into pages the kernel already holds
// costs a fraction of growing a new file, and nothing is freed and allocated
// again. A reused file holds the old segment's records past what was written
// over; they are told apart by their seq, which is always below the new
// segment's id. A reused segment is cut to its records when appends move on
// from it and at Close, so the old bytes stay only after a crash.
//
//	record:
//	+-------+--------+--------+-------+-----+-------+--------+-----------+
//	| magic | crc32c | length | flags | pad |  seq  | unixns |  payload  |
//	|   4   |   4    |   4    |   1   |  3  |   8   |   8    |  length   |
//	+-------+--------+--------+-------+-----+-------+--------+-----------+
//	<------------------- 32-byte header ------------------->
//
//   - magic is ff 'L' 'Q' 01 (format version 1). 0xff never occurs in UTF-8,
//     so it never occurs in a JSON payload, and a scan for the next magic
//     after damage does not stop inside one.
//   - crc32c (Castagnoli) covers every byte after it: header and payload.
//   - flags bit 0 marks the last record of an Append.
//   - seq numbers every record; unixns is when it was appended.
//
// Invariants:
//
//   - seq increases strictly through a segment and from one segment to the
//     next: a segment's records have seq >= its id and < the next one's id.
//     A record with a seq below its segment's id is a reused file's old
//     content and ends the segment: it is neither delivered nor damage.
//   - The queue knows how many bytes of each segment are whole records; a
//     reader never reads past that, so it never sees a write in progress.
//   - A position (segment, offset, seq) is on a record boundary. Records with
//     a smaller seq than a position's are skipped, so a position whose offset
//     is lost can restart at its segment's start without repeating anything.
//   - Position files are written only after the data before them is fsynced,
//     and a position committed with an output's state (queue.StateReader)
//     only after that output's durable call has returned (it runs while
//     the round fsyncs the queue's data; the position is written after
//     both): the position and the state are in one file, so a restart
//     finds both or neither.
//   - A segment file is removed only when every reader's committed position
//     written to disk is in a later segment: what a restart delivers again
//     is still there (an output may have undone it, see queue.StateReader).
//     A position at the very end of a segment that others follow counts as
//     the start of the next one, so a segment read to its end (or an empty
//     one) does not stay.
//   - The last 2 MiB of records appended (Options.CacheBytes) are also kept
//     in memory, as written, for readers that keep up; see cache.go.
//
// Recovery (Open): the last segment is scanned. Bad bytes followed by no good
// record (old content of a reused file is not good) are a torn tail and are
// cut off, together with a trailing Append whose last record is missing, and
// so is the old content; bad bytes followed by a good record are
// skipped and counted (Corrupt). Earlier segments are checked as readers read
// them, with the same rule. A position file that is missing or damaged puts
// its reader back at the oldest record kept; one pointing past the end (data
// lost in a crash) puts it at the end. Every segment is fsynced by Open, and
// appends then go to a new segment (unless the last one is empty), never
// after a recovered tail.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logflux/agent/internal/queue"
)

// Defaults for Options fields left zero.
const (
	// DefaultMaxBytes caps the queue at 1 GiB of records not yet committed by every reader.
	DefaultMaxBytes = 1 << 30
	// DefaultSegmentBytes is the segment size: large enough that creating and
	// removing files is rare, small enough that a drained segment frees space soon.
	DefaultSegmentBytes = 64 << 20
	// DefaultSyncInterval bounds how long appended records stay unsynced when
	// nobody calls Sync (the data a machine crash can take).
	DefaultSyncInterval = 100 * time.Millisecond
	// DefaultCommitInterval bounds how often each reader's position is written:
	// a restart repeats at most what was committed in the last interval.
	DefaultCommitInterval = 200 * time.Millisecond
	// DefaultReadBufferBytes is each reader's read buffer.
	DefaultReadBufferBytes = 64 << 10
	// DefaultSpareIdle is how long an idle queue keeps its spare segment file.
	DefaultSpareIdle = time.Minute
)

// maxReaderName keeps position file names within filesystem limits.
const maxReaderName = 64

// Options configure Open.
type Options struct {
	Dir      string       // the queue's directory, created if missing (required)
	MaxBytes int64        // cap on bytes (headers included) not yet committed by every reader
	Policy   queue.Policy // what Append does at the cap (default queue.Reject)

	// SegmentBytes is the size at which a new segment is started (default
	// DefaultSegmentBytes, but at most a quarter of MaxBytes, so that the
	// disk holds at most about MaxBytes plus two segments: the one being
	// written and a spare).
	SegmentBytes int64
	// SyncInterval is how often the background syncer fsyncs new records
	// when nobody asks (default DefaultSyncInterval). Sync does not wait for it.
	SyncInterval time.Duration
	// CommitInterval is how often committed positions are written (default DefaultCommitInterval).
	CommitInterval time.Duration
	// ReadBufferBytes is the size of each reader's read buffer (default DefaultReadBufferBytes).
	ReadBufferBytes int
	// CacheBytes is the size of the tail cache, which serves readers that
	// keep up with the writer from memory (default DefaultCacheBytes; -1
	// turns it off).
	CacheBytes int64
	// SpareIdle is how long a spare segment file is kept without an
	// Append: an idle queue gives its disk back (default DefaultSpareIdle).
	SpareIdle time.Duration

	FS     FS           // default OSFS
	Logger *slog.Logger // default slog.Default()
}

func (o *Options) setDefaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Policy == "" {
		o.Policy = queue.Reject
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(DefaultSegmentBytes, max(o.MaxBytes/4, 4<<10))
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.ReadBufferBytes == 0 {
		o.ReadBufferBytes = DefaultReadBufferBytes
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.CacheBytes < 0 {
		o.CacheBytes = 0
	}
	if o.SpareIdle == 0 {
		o.SpareIdle = DefaultSpareIdle
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max bytes %d is negative", o.MaxBytes))
	}
	if o.Policy != queue.Reject && o.Policy != queue.Block {
		errs = append(errs, fmt.Errorf("policy %q is neither %q nor %q", o.Policy, queue.Reject, queue.Block))
	}
	if o.SegmentBytes < headerSize {
		errs = append(errs, fmt.Errorf("segment bytes %d is below the %d-byte record header", o.SegmentBytes, headerSize))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("sync interval %s is negative", o.SyncInterval))
	}
	if o.CommitInterval < 0 {
		errs = append(errs, fmt.Errorf("commit interval %s is negative", o.CommitInterval))
	}
	if o.ReadBufferBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("read buffer bytes %d is below 4 KiB", o.ReadBufferBytes))
	}
	return errors.Join(errs...)
}

type segment struct {
	id     uint64 // seq of the segment's first record (or a lower bound), and its name
	size   int64  // bytes of whole records the queue knows of
	reused bool   // written over a spare file, which may hold old records past size
	// spare: created by this process and never failed a write or fsync, so
	// every record in the file has a seq below nextSeq and it may be reused.
	spare bool
}

// maxSpares is how many drained segment files are kept for reuse. One is
// enough for readers that keep up: the segment before the one being written
// is drained by the time that one is full.
const maxSpares = 1

// Queue is a durable queue.Queue; the on-disk format is described at the top
// of this file. It is safe for concurrent use.
type Queue struct {
	opts Options
	fs   FS
	dir  string
	log  *slog.Logger

	kick      chan struct{} // wakes the syncer; capacity 1
	stop      chan struct{} // closed by Close to stop the syncer
	wg        sync.WaitGroup
	persistMu sync.Mutex // serialises writers of position files (syncer, DropReader)
	closeOnce sync.Once
	closeErr  error

	mu sync.Mutex // guards everything below

	segs         []*segment // sorted by id; never empty once something was appended
	wf           File       // write handle of the last segment, nil when none is open for appending
	activeSynced int64      // bytes of the last segment known to be fsynced through wf
	sealActive   bool       // start a new segment at the next Append (after an I/O failure)
	toSync       []File     // handles of earlier segments still to fsync and close
	dirDirty     bool       // a segment was created since the directory was last fsynced
	spares       []string   // paths of drained segment files to reuse, at most maxSpares
	nextSeq      uint64
	recovered    uint64 // nextSeq-1 when Open returned: the last seq found, fsynced by Open (seq.go)
	total        int64  // bytes in all segments
	readers      map[string]*reader
	low          pos   // smallest committed position of all readers
	lowBytes     int64 // bytes before low

	appendGen  uint64        // successful Appends so far
	lastAppend int64         // when the last one was, in Unix nanoseconds
	syncedGen  uint64        // appendGen covered by the last successful fsync round
	rounds     uint64        // fsync rounds completed
	failRound  uint64        // the last round that failed
	failGen    uint64        // appendGen it covered
	syncErr    error         // its error
	syncDone   chan struct{} // closed after every fsync round; nil when nobody waits
	posDone    chan struct{} // closed after every round's position writes; nil when nobody waits
	persistNow bool          // write dirty positions in the next round, whatever CommitInterval says
	dataCh     chan struct{} // closed when records are added; nil when nobody waits
	spaceCh    chan struct{} // closed when room is freed; nil when nobody waits

	corrupt     int64
	corruptSeen map[pos]struct{} // (segment, offset) of damage already counted
	fsyncs      int64
	lastPersist time.Time
	cache       []*chunk // the latest Appends' bytes, oldest first, from cacheHead; see cache.go
	cacheHead   int
	cacheBytes  int64
	freeBufs    [][]byte // encoding buffers to reuse
	closedW     bool
	closed      bool
	syncerDone  bool
}

var _ queue.Queue = (*Queue)(nil)

// Open opens or creates the queue in opts.Dir, recovering from whatever state
// a crash left, and starts its background syncer.
func Open(opts Options) (*Queue, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("diskqueue: invalid options: %w", err)
	}
	q := &Queue{
		opts:        opts,
		fs:          opts.FS,
		dir:         opts.Dir,
		log:         opts.Logger.With("component", "diskqueue", "dir", opts.Dir),
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		readers:     map[string]*reader{},
		corruptSeen: map[pos]struct{}{},
		nextSeq:     1,
		lastPersist: time.Now(),
	}
	if err := q.load(); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.wg.Add(1)
	go q.syncLoop()
	return q, nil
}

// load reads the directory: segments, recovery of the last one, readers.
func (q *Queue) load() error {
	if err := q.fs.MkdirAll(q.dir, 0o755); err != nil {
		return fmt.Errorf("diskqueue: create %s: %w", q.dir, err)
	}
	names, err := q.fs.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("diskqueue: list %s: %w", q.dir, err)
	}
	var readerNames []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// A position being written when the process stopped.
			if err := q.fs.Remove(filepath.Join(q.dir, name)); err != nil {
				q.log.Warn("cannot remove leftover temp file", "file", name, "error", err)
			}
		case strings.HasSuffix(name, spareSuffix):
			// Spares are reused only by the process that made them: after a
			// crash, what they hold may not be told apart from new records.
			if err := q.fs.Remove(filepath.Join(q.dir, name)); err != nil {
				q.log.Warn("cannot remove spare segment file", "file", name, "error", err)
			}
		case strings.HasSuffix(name, segSuffix):
			id, ok := segID(name)
			if !ok {
				q.log.Warn("ignoring file with a segment suffix but no segment name", "file", name)
				continue
			}
			q.segs = append(q.segs, &segment{id: id})
		case strings.HasPrefix(name, posPrefix) && strings.HasSuffix(name, posSuffix):
			if rn, ok := readerName(name); ok {
				readerNames = append(readerNames, rn)
			}
		}
	}
	slices.SortFunc(q.segs, func(a, b *segment) int { return cmpUint(a.id, b.id) })

	// Everything the queue starts from is made durable now, so that positions
	// written from here on never point past data a machine crash could take.
	for i, s := range q.segs {
		last := i == len(q.segs)-1
		if err := q.openSegment(s, last); err != nil {
			return err
		}
		q.total += s.size
	}
	if len(q.segs) > 0 {
		if err := q.fs.SyncDir(q.dir); err != nil {
			return fmt.Errorf("diskqueue: fsync %s: %w", q.dir, err)
		}
	}
	for _, name := range readerNames {
		r := q.newReader(name)
		p, state, err := readPos(q.fs, posFile(q.dir, name))
		if err != nil {
			r.committed = q.oldestLocked()
			r.dirty = true
			q.log.Warn("reader position unreadable; reader restarts at the oldest record kept",
				"reader", name, "error", err)
		} else {
			r.committed, r.state = q.placeLocked(name, p), state
		}
		r.next, r.pending, r.written = r.committed, r.committed, r.committed
		q.readers[name] = r
	}
	q.recomputeLowLocked()
	q.recovered = q.nextSeq - 1
	return nil
}

// openSegment sizes and fsyncs segment s; the last one is also recovered and,
// when empty, kept open for appending.
func (q *Queue) openSegment(s *segment, last bool) error {
	path := segFile(q.dir, s.id)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := q.fs.OpenFile(path, flag, 0)
	if err != nil {
		return fmt.Errorf("diskqueue: open segment: %w", err)
	}
	if s.size, err = f.Size(); err != nil {
		f.Close()
		return fmt.Errorf("diskqueue: size of segment %s: %w", path, err)
	}
	if last {
		if err := q.recoverTail(f, s); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("diskqueue: fsync segment %s: %w", path, err)
	}
	if last && s.size == 0 {
		q.wf = f // nothing in it: keep appending here rather than leave empty files behind
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("diskqueue: close segment %s: %w", path, err)
	}
	return nil
}

// recoverTail scans the last segment, cuts off a torn tail and sets nextSeq.
func (q *Queue) recoverTail(f File, s *segment) error {
	sr := newSegReader(q.opts.ReadBufferBytes)
	sr.reset(f)
	var (
		off, keep   int64  // scan position; end of the last complete Append
		maxSeq      uint64 // largest seq seen
		keepSeq     uint64 // largest seq before keep
		scratch     []byte
		size        = s.size
		damagedFrom = int64(-1)
		oldFrom     = int64(-1) // where a reused file's old records start
	)
	for off < size {
		h, err := sr.header(off, size)
		if err == nil {
			scratch, err = sr.payload(&h, off, size, scratch[:0])
		}
		if err == nil && h.seq < s.id {
			oldFrom = off
			break
		}
		if err == nil {
			off += headerSize + h.length
			maxSeq = max(maxSeq, h.seq)
			if h.flags&flagUnitEnd != 0 {
				keep, keepSeq = off, maxSeq
			}
			continue
		}
		if !errors.Is(err, errBad) {
			return fmt.Errorf("diskqueue: recover segment %d: %w", s.id, err)
		}
		next, ok, err := sr.resync(off+1, size, s.id)
		if err != nil {
			return fmt.Errorf("diskqueue: recover segment %d: %w", s.id, err)
		}
		if !ok {
			damagedFrom = off
			break
		}
		q.noteCorruptLocked(s.id, off, next)
		// The damage ends whatever Append it hit; what follows is whole.
		off, keep, keepSeq = next, next, maxSeq
	}
	if keep < size {
		if keep == oldFrom {
			q.log.Info("cut off the old records of a reused segment file",
				"segment", s.id, "offset", keep, "bytes", size-keep)
		} else {
			q.log.Warn("cut off torn tail of last segment (crash while appending)",
				"segment", s.id, "offset", keep, "bytes", size-keep, "damaged_at", damagedFrom)
		}
		if err := f.Truncate(keep); err != nil {
			return fmt.Errorf("diskqueue: truncate torn tail of segment %d: %w", s.id, err)
		}
		s.size = keep
	}
	// The largest, not the last: seq must grow past every record kept,
	// even in a segment damaged into disorder.
	q.nextSeq = max(s.id, keepSeq+1)
	return nil
}

// placeLocked checks a loaded position against the segments and returns
// where the reader really resumes.
func (q *Queue) placeLocked(name string, p pos) pos {
	end := q.endLocked()
	if len(q.segs) == 0 || p.seq > q.nextSeq || end.before(p) {
		if p != end {
			q.log.Warn("reader position is past the end of the queue (records lost in a crash?); reader resumes at the end",
				"reader", name, "segment", p.seg, "offset", p.off, "seq", p.seq)
		}
		return end
	}
	i, found := slices.BinarySearchFunc(q.segs, p.seg, func(s *segment, id uint64) int { return cmpUint(s.id, id) })
	if !found {
		// The segment is gone: it was removed after this reader committed
		// past it, or lost. Resume at the start of the next one.
		if i == len(q.segs) {
			return end
		}
		return pos{seg: q.segs[i].id, seq: max(p.seq, q.segs[i].id)}
	}
	s := q.segs[i]
	if p.off > s.size {
		if i+1 < len(q.segs) {
			return pos{seg: q.segs[i+1].id, seq: max(p.seq, q.segs[i+1].id)}
		}
		return end
	}
	if p.off == s.size || q.headerMatches(s.id, p) {
		return p
	}
	q.log.Warn("reader position is not on the record it names; reader rescans its segment", "reader", name,
		"segment", p.seg, "offset", p.off, "seq", p.seq)
	return pos{seg: s.id, seq: p.seq}
}

// headerMatches reports whether the record at p carries p's seq.
func (q *Queue) headerMatches(seg uint64, p pos) bool {
	f, err := q.fs.OpenFile(segFile(q.dir, seg), os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, headerSize)
	if n, _ := f.ReadAt(b, p.off); n < headerSize {
		return false
	}
	h, ok := parseHeader(b)
	return ok && h.seq == p.seq
}

// oldestLocked is where a new reader starts: the oldest record kept.
func (q *Queue) oldestLocked() pos {
	if len(q.segs) == 0 {
		return pos{seg: q.nextSeq, seq: q.nextSeq}
	}
	return pos{seg: q.segs[0].id, seq: q.segs[0].id}
}

// endLocked is the position after the last record.
func (q *Queue) endLocked() pos {
	if len(q.segs) == 0 {
		return pos{seg: q.nextSeq, seq: q.nextSeq}
	}
	s := q.segs[len(q.segs)-1]
	return pos{seg: s.id, off: s.size, seq: q.nextSeq}
}

// recomputeLowLocked finds the smallest committed position and the bytes before it.
func (q *Queue) recomputeLowLocked() {
	if len(q.readers) == 0 {
		q.low, q.lowBytes = q.oldestLocked(), 0
		return
	}
	first := true
	for _, r := range q.readers {
		q.locateLocked(&r.committed) // past the end of a segment: into the next
		if first || r.committed.before(q.low) {
			q.low, first = r.committed, false
		}
	}
	q.lowBytes = q.bytesBeforeLocked(q.low)
}

// writtenLowLocked is the smallest of the positions the readers last wrote
// to disk (at or before their committed ones), moved into the next segment
// when at the end of one.
func (q *Queue) writtenLowLocked() pos {
	var low pos
	first := true
	for _, r := range q.readers {
		p := r.written
		q.locateLocked(&p)
		if first || p.before(low) {
			low, first = p, false
		}
	}
	return low
}

// bytesBeforeLocked counts the segment bytes before p.
func (q *Queue) bytesBeforeLocked(p pos) int64 {
	var n int64
	for _, s := range q.segs {
		if s.id > p.seg {
			break
		}
		if s.id == p.seg {
			n += min(p.off, s.size)
			break
		}
		n += s.size
	}
	return n
}

func (q *Queue) usedLocked() int64 { return q.total - q.lowBytes }

// Append writes records as one unit to the current segment; see queue.Queue.
// It returns without waiting for an fsync: call Sync for that.
func (q *Queue) Append(ctx context.Context, records [][]byte) error {
	return q.append(ctx, records, nil)
}

// append is Append, calling before (when not nil) with the seq of the last
// record once the seqs are fixed, before anything is written (seq.go).
func (q *Queue) append(ctx context.Context, records [][]byte, before func(last uint64)) error {
	var size int64
	for i, r := range records {
		if len(r) > maxRecordBytes {
			return fmt.Errorf("diskqueue: record %d has %d bytes, more than the %d-byte limit", i, len(r), maxRecordBytes)
		}
		size += headerSize + int64(len(r))
	}
	q.mu.Lock()
	for {
		if q.closedW {
			q.mu.Unlock()
			return queue.ErrClosed
		}
		used := q.usedLocked()
		// A unit larger than the whole cap is still taken into an empty
		// queue; otherwise it could never be accepted at all.
		if used+size <= q.opts.MaxBytes || used == 0 {
			break
		}
		if q.opts.Policy != queue.Block {
			q.mu.Unlock()
			return queue.ErrFull
		}
		ch := waitCh(&q.spaceCh)
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	if len(records) == 0 {
		return nil
	}
	if err := q.prepareSegmentLocked(size); err != nil {
		return err
	}
	if before != nil {
		before(q.nextSeq + uint64(len(records)) - 1)
	}
	s := q.segs[len(q.segs)-1]
	now := time.Now().UnixNano()
	c, buf := q.encodeTargetLocked(s.id, s.size, size)
	start := len(buf)
	buf = appendRecords(buf, records, q.nextSeq, now)
	if _, err := q.wf.WriteAt(buf[start:], s.size); err != nil {
		if c == nil {
			q.recycleLocked(buf)
		}
		s.spare = false // its records may be in the file, with seqs to be used again
		// Undo a partial write so the next Append starts on a record boundary;
		// if even that fails, the rest goes to a new segment.
		if terr := q.wf.Truncate(s.size); terr != nil {
			q.log.Error("cannot undo failed append; starting a new segment", "segment", s.id, "error", terr)
			q.sealActive = true
		}
		return fmt.Errorf("diskqueue: append to segment %d: %w", s.id, err)
	}
	if c != nil {
		c.data = buf // within its capacity: readers' snapshots stay valid
	} else {
		q.cacheLocked(s.id, s.size, buf)
	}
	s.size += size
	q.total += size
	q.nextSeq += uint64(len(records))
	q.appendGen++
	q.lastAppend = now
	notify(&q.dataCh)
	return nil
}

// prepareSegmentLocked makes sure the last segment is open for appending and
// has room for size bytes, starting a new one if not.
func (q *Queue) prepareSegmentLocked(size int64) error {
	if q.wf != nil && !q.sealActive {
		s := q.segs[len(q.segs)-1]
		if s.size == 0 || s.size+size <= q.opts.SegmentBytes {
			return nil
		}
	}
	id := q.nextSeq
	if n := len(q.segs); n > 0 && q.segs[n-1].id >= id {
		id = q.segs[n-1].id + 1 // an empty segment given up after a failure
	}
	f, reused, err := q.createSegmentLocked(id)
	if err != nil {
		return err
	}
	if q.wf != nil {
		q.trimReusedLocked()
		q.toSync = append(q.toSync, q.wf) // the syncer fsyncs and closes it
	}
	q.wf, q.activeSynced, q.sealActive, q.dirDirty = f, 0, false, true
	q.segs = append(q.segs, &segment{id: id, reused: reused, spare: true})
	q.nextSeq = id
	if len(q.readers) == 0 {
		q.recomputeLowLocked()
	}
	return nil
}

// createSegmentLocked opens the file of new segment id for writing: a spare
// renamed, or a new file when there is none (or it cannot be reused).
func (q *Queue) createSegmentLocked(id uint64) (File, bool, error) {
	path := segFile(q.dir, id)
	for len(q.spares) > 0 {
		spare := q.spares[len(q.spares)-1]
		q.spares = q.spares[:len(q.spares)-1]
		// The spare's name is durable (see removeSegments); the new one
		// becomes durable with the next fsync round, as a new file's would.
		if err := q.fs.Rename(spare, path); err != nil {
			q.log.Warn("cannot reuse spare segment file; creating a new one", "file", spare, "error", err)
			continue
		}
		f, err := q.fs.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			return f, true, nil
		}
		q.log.Warn("cannot reuse spare segment file; creating a new one", "file", path, "error", err)
		if err := q.fs.Remove(path); err != nil {
			return nil, false, fmt.Errorf("diskqueue: create segment: %w", err)
		}
	}
	f, err := q.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, false, fmt.Errorf("diskqueue: create segment: %w", err)
	}
	return f, false, nil
}

// trimReusedLocked cuts the segment being written off after its records
// when it was written over a spare, so that no old records follow them.
// Failing is harmless: readers stop at the first old record anyway.
func (q *Queue) trimReusedLocked() {
	s := q.segs[len(q.segs)-1]
	if !s.reused {
		return
	}
	if err := q.wf.Truncate(s.size); err != nil {
		q.log.Warn("cannot cut reused segment file to its records", "segment", s.id, "error", err)
		return
	}
	s.reused = false
}

// Sync returns once every record appended before the call is on stable
// storage. Concurrent callers share fsyncs: the syncer runs one round for
// everyone waiting, and callers arriving meanwhile are served by the next.
func (q *Queue) Sync(ctx context.Context) error {
	q.mu.Lock()
	target, round := q.appendGen, q.rounds
	for {
		switch {
		case q.syncedGen >= target:
			q.mu.Unlock()
			return nil
		case q.failRound > round && q.failGen >= target:
			// An fsync tried after this call failed; an older failure is
			// not reported, the next round tries again.
			err := q.syncErr
			q.mu.Unlock()
			return err
		case q.syncerDone:
			q.mu.Unlock()
			return queue.ErrClosed
		}
		if err := q.awaitRoundLocked(ctx, &q.syncDone); err != nil {
			return err
		}
	}
}

// awaitRoundLocked, called with q.mu held, wakes the syncer and waits until
// it closes *done (a round's end), and takes q.mu again; when ctx ends first
// it returns ctx.Err() without q.mu.
func (q *Queue) awaitRoundLocked(ctx context.Context, done *chan struct{}) error {
	ch := waitCh(done)
	q.mu.Unlock()
	q.wake()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	q.mu.Lock()
	return nil
}

func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Reader returns the reader called name, creating it at the oldest record
// kept if it does not exist. Readers left from an earlier run are loaded by
// Open and hold their records until they commit them (or DropReader).
// A Reader is for one goroutine at a time.
func (q *Queue) Reader(name string) (queue.Reader, error) {
	if name == "" || len(name) > maxReaderName {
		return nil, fmt.Errorf("diskqueue: reader name %q must have 1 to %d bytes", name, maxReaderName)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, queue.ErrClosed
	}
	if r, ok := q.readers[name]; ok {
		return r, nil
	}
	r := q.newReader(name)
	r.committed = q.oldestLocked()
	r.next, r.pending, r.written, r.dirty = r.committed, r.committed, r.committed, true
	q.readers[name] = r
	q.recomputeLowLocked()
	return r, nil
}

// DropReader forgets the reader called name and its position, so it no
// longer holds records (for an output removed from the configuration).
// A Reader value already handed out returns queue.ErrClosed from then on.
func (q *Queue) DropReader(name string) error {
	q.persistMu.Lock()
	defer q.persistMu.Unlock()
	q.mu.Lock()
	r, ok := q.readers[name]
	if !ok {
		q.mu.Unlock()
		return nil
	}
	delete(q.readers, name)
	r.dropped = true
	q.recomputeLowLocked()
	notify(&q.dataCh)
	notify(&q.spaceCh)
	q.mu.Unlock()

	r.mu.Lock()
	r.closeFile()
	r.mu.Unlock()
	q.wake() // segments may be removable now
	if err := q.fs.Remove(posFile(q.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("diskqueue: remove position of reader %s: %w", name, err)
	}
	if err := q.fs.SyncDir(q.dir); err != nil {
		return fmt.Errorf("diskqueue: fsync %s: %w", q.dir, err)
	}
	return nil
}

// CloseWrite refuses further appends; readers drain and then get queue.ErrClosed.
func (q *Queue) CloseWrite() {
	q.mu.Lock()
	q.closedW = true
	notify(&q.dataCh)
	notify(&q.spaceCh)
	q.mu.Unlock()
	q.wake()
}

// Close stops the syncer after a last fsync and position write, and closes
// every file. Undelivered records stay on disk for the next Open. Close is
// idempotent; later calls return the first call's result.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed, q.closedW = true, true
		notify(&q.dataCh)
		notify(&q.spaceCh)
		q.mu.Unlock()
		close(q.stop)
		q.wg.Wait()

		q.mu.Lock()
		var err error
		if q.failGen > q.syncedGen {
			err = q.syncErr
		}
		readers := make([]*reader, 0, len(q.readers))
		for _, r := range q.readers {
			readers = append(readers, r)
		}
		q.mu.Unlock()
		for _, r := range readers {
			r.mu.Lock()
			r.closeFile()
			r.mu.Unlock()
		}
		q.closeErr = errors.Join(err, q.closeFiles())
	})
	return q.closeErr
}

// closeFiles closes the write handles.
func (q *Queue) closeFiles() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, f := range q.toSync {
		errs = append(errs, f.Close())
	}
	q.toSync = nil
	if q.wf != nil {
		if q.segs[len(q.segs)-1].reused {
			q.trimReusedLocked()
			errs = append(errs, q.wf.Sync())
		}
		errs = append(errs, q.wf.Close())
		q.wf = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("diskqueue: close: %w", err)
	}
	return nil
}

// Stats reports the records and bytes not yet committed by every reader.
// Records counts sequence numbers, so damage skipped or records lost in a
// crash may make it a little high until the readers pass them.
func (q *Queue) Stats() queue.Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queue.Stats{Records: q.recordsSinceLocked(q.low), Bytes: q.usedLocked(), MaxBytes: q.opts.MaxBytes}
}

func (q *Queue) recordsSinceLocked(p pos) int64 {
	if p.seq >= q.nextSeq {
		return 0
	}
	return int64(q.nextSeq - p.seq)
}

// OldestAge is the age of the oldest record not committed by every reader
// (0 if none); it reads one record header.
func (q *Queue) OldestAge() time.Duration { return q.DiskStats().OldestAge }

// DiskStats is a fuller snapshot of the queue for metrics.
type DiskStats struct {
	queue.Stats
	DiskBytes int64         // bytes in segment files, including committed ones not yet removed
	Segments  int           // segment files
	Corrupt   int64         // damaged regions skipped (each is one or more records lost)
	Fsyncs    int64         // fsyncs of segment files so far
	OldestAge time.Duration // age of the oldest record not committed by every reader; 0 if none
	Readers   []ReaderStats // sorted by name
}

// ReaderStats is one reader's lag.
type ReaderStats struct {
	Name    string
	Records int64 // records appended and not committed by this reader
	Bytes   int64 // their bytes on disk
}

// DiskStats returns a snapshot of the queue; it reads one record header to
// find the oldest record's age.
func (q *Queue) DiskStats() DiskStats {
	q.mu.Lock()
	st := DiskStats{
		Stats:     queue.Stats{Records: q.recordsSinceLocked(q.low), Bytes: q.usedLocked(), MaxBytes: q.opts.MaxBytes},
		DiskBytes: q.total,
		Segments:  len(q.segs),
		Corrupt:   q.corrupt,
		Fsyncs:    q.fsyncs,
	}
	for name, r := range q.readers {
		st.Readers = append(st.Readers, ReaderStats{
			Name:    name,
			Records: q.recordsSinceLocked(r.committed),
			Bytes:   q.total - q.bytesBeforeLocked(r.committed),
		})
	}
	oldest := q.low
	limit, ok := q.locateLocked(&oldest)
	q.mu.Unlock()
	slices.SortFunc(st.Readers, func(a, b ReaderStats) int { return strings.Compare(a.Name, b.Name) })
	if ok && st.Bytes > 0 {
		if t, ok := q.appendTime(oldest, limit); ok {
			st.OldestAge = max(time.Since(t), 0)
		}
	}
	return st
}

// appendTime reads the append time of the first record at p.
func (q *Queue) appendTime(p pos, limit int64) (time.Time, bool) {
	f, err := q.fs.OpenFile(segFile(q.dir, p.seg), os.O_RDONLY, 0)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sr := newSegReader(4 << 10)
	sr.reset(f)
	h, err := sr.header(p.off, limit)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, h.unixNano), true
}

// Corrupt reports how many damaged regions were skipped so far (in recovery
// or by readers); each cost one or more records.
func (q *Queue) Corrupt() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.corrupt
}

// noteCorruptLocked counts damage at (seg, off) once, however many readers meet it.
func (q *Queue) noteCorruptLocked(seg uint64, off, next int64) {
	key := pos{seg: seg, off: off}
	if _, seen := q.corruptSeen[key]; seen {
		return
	}
	q.corruptSeen[key] = struct{}{}
	q.corrupt++
	q.log.Warn("skipped damaged bytes in segment", "segment", seg, "offset", off, "bytes", next-off)
}

// locateLocked moves p to the segment that holds its next record (the next
// segment when p is at the end of one that is complete, or when p's segment
// is gone) and returns that segment's readable limit; ok is false when no
// record is available at p yet.
func (q *Queue) locateLocked(p *pos) (limit int64, ok bool) {
	i, _ := slices.BinarySearchFunc(q.segs, p.seg, func(s *segment, id uint64) int { return cmpUint(s.id, id) })
	for ; i < len(q.segs); i++ {
		s := q.segs[i]
		if s.id != p.seg {
			p.seg, p.off = s.id, 0
		}
		if p.off < s.size {
			return s.size, true
		}
	}
	return 0, false
}

func waitCh(ch *chan struct{}) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

func notify(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
