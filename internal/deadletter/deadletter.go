// Package deadletter keeps the records that outputs refused permanently, in a byte-capped directory of NDJSON files, for inspection and replay.
package deadletter

// Files
//
//	dir/
//	  dl-00000000000000000001.ndjson   oldest
//	  dl-00000000000000000002.ndjson   newest: Put appends here
//	  replay.pos                       {"file":"dl-00000000000000000001.ndjson","offset":8192}
//
// Each line is one refused record:
//
//	{"output":"forwarder","reason":"permanent: 400 bad entry","at":"2025-08-31T10:30:00.123Z","entry":{…}}
//
// "entry" is the record verbatim (records are JSON objects; one spread over
// several lines is compacted, as NDJSON needs). A record that is not valid
// JSON is kept losslessly as "entry_base64" instead. Put appends whole lines
// with one write and fsyncs before returning, so a crash can only leave a
// partial last line, which Open cuts off. A new file is started at
// FileBytes; when the directory would pass MaxBytes the oldest files are
// removed, and the entries lost that way are counted and logged.
//
// Replay sends entries oldest first and, after each batch that was sent,
// records how far it got in replay.pos (temp file, fsync, rename) before
// going on; a file replayed to its end is removed. An interrupted replay thus
// resumes after the last batch sent; only a crash between a send and the
// write of replay.pos repeats that one batch.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logflux/agent/internal/output"
)

// Defaults for Options fields left zero.
const (
	// DefaultMaxBytes caps the store at 100 MiB.
	DefaultMaxBytes = 100 << 20
	// DefaultReplayBatch is how many entries Replay sends at once.
	DefaultReplayBatch = 100
	// replayBatchBytes bounds a Replay batch in bytes as well.
	replayBatchBytes = 4 << 20
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("deadletter: store closed")

// ErrReadOnly is returned by Put and Replay on a store opened with OpenReadOnly.
var ErrReadOnly = errors.New("deadletter: store opened read-only (the agent owns it while it runs)")

// Options configure Open.
type Options struct {
	Dir      string // created if missing (required)
	MaxBytes int64  // cap on the files' total size (default DefaultMaxBytes)
	// FileBytes is the size at which a new file is started (default a tenth
	// of MaxBytes, at most 8 MiB): old entries are dropped a file at a time.
	FileBytes   int64
	ReplayBatch int          // entries per send in Replay (default DefaultReplayBatch)
	Logger      *slog.Logger // default slog.Default()
}

// Item is one stored entry.
type Item struct {
	Output string          // the output that refused it
	Reason string          // why
	At     time.Time       // when it was stored (UTC)
	Entry  json.RawMessage // the record as the output got it (raw bytes if it was not JSON)
}

// Stats is a snapshot of the store.
type Stats struct {
	Entries int64 // lines stored and not yet replayed
	Bytes   int64 // size of the files, counted against MaxBytes
	Dropped int64 // entries removed to stay within MaxBytes since Open
	Damaged int64 // unreadable lines skipped by List or Replay since Open
	Files   int
}

// Store is the dead-letter directory. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	replayMu sync.Mutex // one Replay at a time

	mu      sync.Mutex // guards everything below
	files   []*dlFile  // oldest first
	cur     *os.File   // open for appending to the last file; nil: the next Put starts a new one
	nextID  uint64
	bytes   int64
	entries int64
	dropped int64
	damaged int64
	closed  bool
	// readOnly: opened beside the agent that owns the directory; changes
	// nothing on disk (see OpenReadOnly).
	readOnly bool
}

type dlFile struct {
	id      uint64
	size    int64
	start   int64 // bytes already replayed
	entries int64 // lines after start
}

var _ output.DeadLetter = (*Store)(nil)

const (
	filePrefix = "dl-"
	fileSuffix = ".ndjson"
	replayFile = "replay.pos"
	tmpSuffix  = ".tmp"
)

func fileName(id uint64) string { return fmt.Sprintf("%s%020d%s", filePrefix, id, fileSuffix) }

func (s *Store) path(id uint64) string { return filepath.Join(s.opts.Dir, fileName(id)) }

// Open opens or creates the store in opts.Dir, cutting off a line a crash
// left half-written.
func Open(opts Options) (*Store, error) { return open(opts, false) }

// OpenReadOnly opens the store for List while the agent that owns it may be
// running and writing: it creates, removes and truncates nothing. A
// partial last line (being written now, or left by a crash) is not listed;
// a missing directory is an empty store. Put and Replay return ErrReadOnly.
func OpenReadOnly(opts Options) (*Store, error) { return open(opts, true) }

func open(opts Options, readOnly bool) (*Store, error) {
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.FileBytes == 0 {
		opts.FileBytes = min(8<<20, max(opts.MaxBytes/10, 4<<10))
	}
	if opts.ReplayBatch == 0 {
		opts.ReplayBatch = DefaultReplayBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var errs []error
	if opts.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if opts.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max bytes %d is negative", opts.MaxBytes))
	}
	if opts.FileBytes < 0 {
		errs = append(errs, fmt.Errorf("file bytes %d is negative", opts.FileBytes))
	}
	if opts.ReplayBatch < 0 {
		errs = append(errs, fmt.Errorf("replay batch %d is negative", opts.ReplayBatch))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("deadletter: invalid options: %w", err)
	}
	s := &Store{opts: opts, log: opts.Logger.With("component", "deadletter", "dir", opts.Dir), nextID: 1, readOnly: readOnly}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	dir := s.opts.Dir
	if !s.readOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("deadletter: create %s: %w", dir, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if s.readOnly && errors.Is(err, os.ErrNotExist) {
		return nil // nothing was ever refused
	}
	if err != nil {
		return fmt.Errorf("deadletter: list %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if s.readOnly {
				continue
			}
			_ = os.Remove(filepath.Join(dir, name)) // a replay.pos being written at a crash
			continue
		}
		if id, ok := parseFileName(name); ok {
			s.files = append(s.files, &dlFile{id: id})
		}
	}
	slices.SortFunc(s.files, func(a, b *dlFile) int { return cmpUint(a.id, b.id) })

	head, headOff, headOK := s.readReplayPos()
	headFound := false
	for _, f := range s.files {
		if headOK && fileName(f.id) == head {
			f.start, headFound = headOff, true
		}
		if err := s.scan(f); errors.Is(err, os.ErrNotExist) && s.readOnly {
			continue // replayed or dropped by the agent meanwhile
		} else if err != nil {
			return err
		}
		s.bytes += f.size
		s.entries += f.entries
		s.nextID = f.id + 1
	}
	if headOK && !headFound && !s.readOnly {
		// Left by a replay that removed its file: clear it before a new
		// file could ever take that name.
		if err := removeSynced(filepath.Join(dir, replayFile)); err != nil {
			return fmt.Errorf("deadletter: %w", err)
		}
	}
	return nil
}

func parseFileName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, fileSuffix); !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

// scan sizes f, counts its lines after f.start and cuts off a partial last line.
func (s *Store) scan(f *dlFile) error {
	path := s.path(f.id)
	flag := os.O_RDWR
	if s.readOnly {
		flag = os.O_RDONLY
	}
	fh, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return fmt.Errorf("deadletter: open %s: %w", path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("deadletter: stat %s: %w", path, err)
	}
	f.size = st.Size()
	if f.start > f.size {
		s.log.Warn("replay position past the end of its file; replaying the file from its start", "file", path)
		f.start = 0
	}
	buf := make([]byte, 64<<10)
	end := f.start // after the last newline
	for off := f.start; off < f.size; {
		n, err := fh.ReadAt(buf[:min(int64(len(buf)), f.size-off)], off)
		if n == 0 && err != nil {
			return fmt.Errorf("deadletter: read %s: %w", path, err)
		}
		f.entries += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = off + int64(i) + 1
		}
		off += int64(n)
	}
	if end < f.size && s.readOnly {
		f.size = end // the agent may be writing that line now: leave it to the agent
		return nil
	}
	if end < f.size {
		s.log.Warn("cut off a partial last line (crash while storing)", "file", path, "bytes", f.size-end)
		if err := fh.Truncate(end); err != nil {
			return fmt.Errorf("deadletter: truncate %s: %w", path, err)
		}
		if err := fh.Sync(); err != nil {
			return fmt.Errorf("deadletter: fsync %s: %w", path, err)
		}
		f.size = end
	}
	return nil
}

type replayPos struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
}

func (s *Store) readReplayPos() (string, int64, bool) {
	path := filepath.Join(s.opts.Dir, replayFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, false
	}
	var p replayPos
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err == nil && (p.Offset < 0 || p.File == "") {
		err = errors.New("bad content")
	}
	if err != nil {
		s.log.Warn("replay position unreadable; an interrupted replay will repeat entries", "file", path, "error", err)
		return "", 0, false
	}
	return p.File, p.Offset, true
}

// line is the JSON form of one entry.
type line struct {
	Output      string          `json:"output"`
	Reason      string          `json:"reason"`
	At          string          `json:"at"`
	Entry       json.RawMessage `json:"entry,omitempty"`
	EntryBase64 string          `json:"entry_base64,omitempty"`
}

// appendLine encodes one entry as an NDJSON line.
func appendLine(dst []byte, output, reason, at string, rec []byte) []byte {
	dst = append(dst, `{"output":`...)
	dst = appendString(dst, output)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, reason)
	dst = append(dst, `,"at":"`...)
	dst = append(dst, at...)
	switch trimmed := bytes.TrimSpace(rec); {
	case !json.Valid(rec) || len(trimmed) == 0:
		dst = append(dst, `","entry_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, rec)
		dst = append(dst, '"')
	case bytes.ContainsAny(rec, "\r\n"):
		dst = append(dst, `","entry":`...)
		var b bytes.Buffer
		_ = json.Compact(&b, rec) // valid, checked above
		dst = append(dst, b.Bytes()...)
	default:
		dst = append(dst, `","entry":`...)
		dst = append(dst, trimmed...)
	}
	return append(dst, '}', '\n')
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}

// parseLine decodes one line; ok is false for a damaged line.
func parseLine(b []byte) (Item, bool) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return Item{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, l.At)
	if err != nil {
		return Item{}, false
	}
	it := Item{Output: l.Output, Reason: l.Reason, At: at.UTC(), Entry: l.Entry}
	if l.EntryBase64 != "" {
		if it.Entry, err = base64.StdEncoding.DecodeString(l.EntryBase64); err != nil {
			return Item{}, false
		}
	}
	if it.Entry == nil {
		return Item{}, false
	}
	return it, true
}

// Put stores records that output refused for reason, fsynced before it
// returns. Records are copied; when the store is full the oldest files make
// room (counted in Stats.Dropped and logged).
func (s *Store) Put(output string, records [][]byte, reason error) error {
	if len(records) == 0 {
		return nil
	}
	why := ""
	if reason != nil {
		why = reason.Error()
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	var buf []byte
	for _, rec := range records {
		buf = appendLine(buf, output, why, at, rec)
	}
	size := int64(len(buf))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	if s.cur != nil {
		if last := s.files[len(s.files)-1]; last.size > 0 && last.size+size > s.opts.FileBytes {
			s.closeCurLocked()
		}
	}
	s.makeRoomLocked(size)
	if s.cur == nil {
		if err := s.startFileLocked(); err != nil {
			return err
		}
	}
	f := s.files[len(s.files)-1]
	if _, err := s.cur.WriteAt(buf, f.size); err != nil {
		// Undo a partial write; if that fails, later entries go to a new file.
		if terr := s.cur.Truncate(f.size); terr != nil {
			s.closeCurLocked()
		}
		return fmt.Errorf("deadletter: store %d entries of %s: %w", len(records), output, err)
	}
	f.size += size
	f.entries += int64(len(records))
	s.bytes += size
	s.entries += int64(len(records))
	if err := s.cur.Sync(); err != nil {
		s.closeCurLocked() // after a failed fsync, start afresh
		return fmt.Errorf("deadletter: fsync %s: %w", s.path(f.id), err)
	}
	return nil
}

// makeRoomLocked removes the oldest files until size more bytes fit.
func (s *Store) makeRoomLocked(size int64) {
	for s.bytes+size > s.opts.MaxBytes && len(s.files) > 0 {
		f := s.files[0]
		if len(s.files) == 1 {
			s.closeCurLocked()
		}
		path := s.path(f.id)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("dead-letter store full and the oldest file cannot be removed", "file", path, "error", err)
			return
		}
		s.files = s.files[1:]
		s.bytes -= f.size
		s.entries -= f.entries
		s.dropped += f.entries
		s.log.Warn("dead-letter store full; dropped its oldest entries",
			"file", path, "entries", f.entries, "dropped_total", s.dropped, "max_bytes", s.opts.MaxBytes)
		if err := syncDir(s.opts.Dir); err != nil {
			s.log.Warn("cannot fsync dead-letter directory", "error", err)
		}
	}
}

func (s *Store) startFileLocked() error {
	id := s.nextID
	path := s.path(id)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("deadletter: create %s: %w", path, err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		fh.Close()
		os.Remove(path)
		return fmt.Errorf("deadletter: %w", err)
	}
	s.nextID++
	s.cur = fh
	s.files = append(s.files, &dlFile{id: id})
	return nil
}

func (s *Store) closeCurLocked() {
	if s.cur != nil {
		if err := s.cur.Close(); err != nil {
			s.log.Warn("cannot close dead-letter file", "error", err)
		}
		s.cur = nil
	}
}

// Stats returns a snapshot of the store.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Entries: s.entries, Bytes: s.bytes, Dropped: s.dropped, Damaged: s.damaged, Files: len(s.files)}
}

// span is the part of a file still to read.
type span struct {
	id         uint64
	start, end int64
}

func (s *Store) spansLocked() []span {
	out := make([]span, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, span{id: f.id, start: f.start, end: f.size})
	}
	return out
}

// List calls fn for every stored entry, oldest first, and stops at the
// first error fn returns (which List returns). Damaged lines are skipped,
// counted in Stats.Damaged and logged. Entries stored while List runs may
// or may not be listed.
func (s *Store) List(fn func(Item) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	spans := s.spansLocked()
	s.mu.Unlock()
	for _, sp := range spans {
		err := s.readSpan(sp, func(it Item, ok bool, _ int64) error {
			if !ok {
				return nil
			}
			return fn(it)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readSpan calls fn with every line of sp, decoded (ok false: damaged), and
// the offset just after it. Damaged lines are counted and logged here.
func (s *Store) readSpan(sp span, fn func(it Item, ok bool, end int64) error) error {
	path := s.path(sp.id)
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed to make room meanwhile
	}
	if err != nil {
		return fmt.Errorf("deadletter: open %s: %w", path, err)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(io.NewSectionReader(fh, sp.start, sp.end-sp.start), 64<<10)
	off := sp.start
	var damaged int64
	defer func() {
		if damaged > 0 {
			s.mu.Lock()
			s.damaged += damaged
			s.mu.Unlock()
			s.log.Warn("skipped unreadable dead-letter lines", "file", path, "lines", damaged)
		}
	}()
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			off += int64(len(b))
			it, ok := parseLine(b[:len(b)-1])
			if !ok {
				damaged++
			}
			if ferr := fn(it, ok, off); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deadletter: read %s: %w", path, err)
		}
	}
}

// Replay sends every stored entry back through send, oldest first, in
// batches of up to ReplayBatch entries, and removes what was sent: after
// each successful send it records its progress durably, so an interrupted
// Replay (send error, ctx ending, crash) resumes after the last batch sent.
// progress, if not nil, is called after each batch with the lines handled
// so far and the lines there were to replay when Replay started (damaged
// lines are skipped and count as handled). Entries stored while Replay runs
// are left for the next one. It returns the number of entries sent.
func (s *Store) Replay(ctx context.Context, send func(ctx context.Context, records [][]byte) error, progress func(done, total int)) (int, error) {
	var records [][]byte
	return s.ReplayItems(ctx, func(ctx context.Context, items []Item) error {
		records = records[:0]
		for _, it := range items {
			records = append(records, it.Entry)
		}
		return send(ctx, records)
	}, progress)
}

// ReplayItems is Replay with the whole items, so that the caller can send
// each entry back to the output that refused it.
func (s *Store) ReplayItems(ctx context.Context, send func(ctx context.Context, items []Item) error, progress func(done, total int)) (int, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if s.readOnly {
		s.mu.Unlock()
		return 0, ErrReadOnly
	}
	s.closeCurLocked() // new entries go to a new file, not into what is being replayed
	spans := s.spansLocked()
	total := int(s.entries)
	s.mu.Unlock()

	sent, handled := 0, 0
	for _, sp := range spans {
		var batch []Item
		lines, batchBytes := 0, 0
		flush := func(end int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(batch) > 0 {
				if err := send(ctx, batch); err != nil {
					return fmt.Errorf("deadletter: replay: %w", err)
				}
			}
			if err := s.advance(sp.id, end, int64(lines)); err != nil {
				return err
			}
			sent += len(batch)
			handled += lines
			if progress != nil {
				progress(handled, total)
			}
			batch, lines, batchBytes = nil, 0, 0
			return nil
		}
		end := sp.start
		err := s.readSpan(sp, func(it Item, ok bool, off int64) error {
			if ok {
				batch = append(batch, it)
				batchBytes += len(it.Entry)
			}
			lines++
			end = off
			if len(batch) >= s.opts.ReplayBatch || batchBytes >= replayBatchBytes {
				return flush(end)
			}
			return nil
		})
		if err == nil && lines > 0 {
			err = flush(end)
		}
		if err != nil {
			return sent, err
		}
		if err := s.finish(sp.id); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// advance records that file id is replayed up to offset end.
func (s *Store) advance(id uint64, end, lines int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.files, func(f *dlFile) bool { return f.id == id })
	if i < 0 {
		return nil // removed to make room meanwhile
	}
	b, _ := json.Marshal(replayPos{File: fileName(id), Offset: end})
	if err := writeSynced(filepath.Join(s.opts.Dir, replayFile), b); err != nil {
		return fmt.Errorf("deadletter: record replay progress: %w", err)
	}
	f := s.files[i]
	f.start = end
	f.entries -= lines
	s.entries -= lines
	return nil
}

// finish removes file id once it is replayed to its end.
func (s *Store) finish(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.files, func(f *dlFile) bool { return f.id == id })
	if i < 0 {
		return nil
	}
	f := s.files[i]
	if f.start < f.size {
		return nil // lines were added after the replay started (cannot happen: the file was closed)
	}
	path := s.path(id)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deadletter: remove replayed %s: %w", path, err)
	}
	s.files = slices.Delete(s.files, i, i+1)
	s.bytes -= f.size
	s.entries -= f.entries
	// The file goes first, then its progress record: a crash between leaves
	// a replay.pos naming no file, which Open clears.
	if err := removeSynced(filepath.Join(s.opts.Dir, replayFile)); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return nil
}

// Close closes the file being appended to. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeCurLocked()
	return nil
}

// writeSynced replaces path with data atomically and durably.
func writeSynced(path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// removeSynced removes path (if present) durably.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
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
