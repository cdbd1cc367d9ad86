package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/protocol"
)

// fileKey is a file's device and inode.
type fileKey struct{ dev, ino uint64 }

// tail is one file followed.
type tail struct {
	key   fileKey
	path  string // where it was last seen
	meta  pathMeta
	fpLen int // bytes the fingerprint covers (grows with a short file)
	fp    [32]byte
	// seed makes the ids of the file's records (see lineID); kept in the
	// checkpoint, written before the first record that uses it.
	seed      [16]byte
	seedSaved bool

	f       *os.File // nil when closed (max_open_files)
	size    int64    // at the last stat
	readOff int64    // next byte to read
	emitOff int64    // after the last line whose entry is in the batch (or that made none)
	doneOff int64    // after the last line appended to the queue
	saveOff int64    // what the checkpoint says (durable)
	epoch   uint64   // counts the times its offsets were set back (truncation): a commit taken before does not apply
	lastUse time.Time

	inGlob   bool      // matched by an include glob at the last poll
	goneAt   time.Time // when it stopped being at a matched path (zero: it is)
	shadow   *tail     // a copy of this live file (copytruncate under way): not read until that one is truncated
	shadowOf *tail     // the file this one is a held copy of
	shadowT  time.Time

	carry []byte // an incomplete line, from lineOff

	// Container partials (docker, cri) being joined, from cStart.
	cPending bool
	cStart   int64
	cBuf     []byte
	cTS      []byte
	cStream  string

	// A multiline entry being gathered, from mStart to mLast.
	mPending     bool
	mStart       int64
	mLast        int64
	mBuf, mTS    []byte
	mStream      string
	mLvl, mLines int
	mJSON        bool
	mAt          time.Time

	parts int // parts sent of the line being split

	skipping bool   // truncate mode: dropping the rest of a long line
	skipped  int64  // its length so far
	skipAt   int64  // where it starts
	head     []byte // its first max_line_bytes
}

// reader is the input's goroutine and all it owns.
type reader struct {
	in       *Input
	sink     input.Sink
	ckptPath string
	first    bool // no checkpoint existed: start_at applies to files found now

	files    map[fileKey]*tail
	opened   map[*tail]struct{} // the files with a descriptor
	orphans  []fileOffsets      // checkpointed files not yet found again
	order    []*tail            // reading order, rotated for fairness
	next     int
	open     int
	lastGlob time.Time

	buf   []byte // one read
	maker protocol.Maker
	one   []protocol.Entry // the entry being filtered
	stamp protocol.Stamp
	kvs   []protocol.KV

	batch     []byte // records back to back
	ends      []int
	recs      [][]byte
	touched   map[*tail]bool
	ckptBuf   []byte
	ckptFiles []fileOffsets
	dirty     bool // offsets changed since the last commit started

	gen  uint64      // of the last checkpoint written, of either kind (checkpoint.go)
	prov provisional // the provisional checkpoints (provisional.go)

	// The committer (commit.go): at most one commit in flight.
	commits       chan *commitRound // to the committer
	finished      chan *commitRound // back from it
	committerDone chan struct{}
	inflight      *commitRound
	spare         *commitRound
	unsaved       int64 // bytes read since the offsets of the last checkpoint written
	warned        map[string]bool

	appendErr error // the last append failed: read nothing more until one succeeds
}

// newReader makes the reader of in, resuming at saved (the checkpoint of
// gen); first says there was none.
func newReader(in *Input, sink input.Sink, ckptPath string, saved []fileOffsets, gen uint64, first bool) *reader {
	r := &reader{in: in, sink: sink, ckptPath: ckptPath, first: first, files: map[fileKey]*tail{}, opened: map[*tail]struct{}{},
		orphans: saved, touched: map[*tail]bool{}, warned: map[string]bool{}, gen: gen,
		commits: make(chan *commitRound), finished: make(chan *commitRound, 1), committerDone: make(chan struct{})}
	if seqs, ok := sink.(input.SeqSink); ok {
		r.prov.seqs, r.prov.paths = seqs, provisionalPaths(ckptPath)
	}
	r.stamp.Input = in.name
	return r
}

// warnOnce logs a problem the first time it happens for key.
func (r *reader) warnOnce(key, msg string, args ...any) {
	if r.warned[key] {
		return
	}
	if len(r.warned) > 10000 {
		clear(r.warned)
	}
	r.warned[key] = true
	r.in.log.Warn(msg, args...)
}

func (r *reader) run(ctx context.Context) {
	go r.committer(ctx)
	defer r.close(ctx)
	for {
		cfg := r.in.cfg.Load()
		if time.Since(r.lastGlob) >= cfg.PollInterval {
			r.poll(cfg)
			r.lastGlob = time.Now()
		}
		more := r.readRound(ctx, cfg)
		if err := r.commit(ctx, false); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.warnOnce("commit", "cannot append to the queue or sync it; retrying", "error", err)
			more = false
		}
		if more {
			select {
			case <-r.in.stop:
				return
			default:
			}
			continue
		}
		r.flushProvisional()
		var back chan *commitRound // the committer's answer, when a commit is in flight
		if r.inflight != nil {
			back = r.finished
		}
		select {
		case <-r.in.stop:
			return
		case c := <-back:
			// Offsets left by the rounds since are committed next.
			if err := r.collect(c); err != nil && ctx.Err() == nil {
				r.warnOnce("commit", "cannot append to the queue or sync it; retrying", "error", err)
			}
		case <-time.After(cfg.PollInterval):
		}
	}
}

// close appends and checkpoints what was read, stops the committer, then
// closes every file.
func (r *reader) close(ctx context.Context) {
	if ctx.Err() == nil {
		if err := r.commit(ctx, true); err != nil && ctx.Err() == nil {
			r.in.log.Warn("last lines not appended; they are read again at the next start", "error", err)
		}
	}
	if r.inflight != nil {
		r.collect(<-r.finished) // ctx ended: the Sync gives up
	}
	close(r.commits)
	<-r.committerDone
	for _, t := range r.files {
		r.closeFile(t)
	}
	r.prov.close()
}

// poll matches the globs, identifies new files, notices rotated ones.
func (r *reader) poll(cfg *Config) {
	now := time.Now()
	seen := map[fileKey]bool{}
	var found []string
	for _, g := range cfg.Include {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	sort.Strings(found)
	for i, p := range found {
		if i > 0 && found[i-1] == p || excluded(cfg, p) {
			continue
		}
		fi, err := os.Stat(p) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		k := keyOf(fi)
		if seen[k] {
			continue // two links to one file
		}
		t := r.files[k]
		if t == nil {
			if cfg.IgnoreOlder > 0 && now.Sub(fi.ModTime()) > cfg.IgnoreOlder {
				continue
			}
			if t = r.discover(cfg, p, fi, k); t == nil {
				continue
			}
		}
		seen[k] = true
		if t.path != p {
			t.path, t.meta = p, metaFromPath(p, cfg.Source)
		}
		t.inGlob, t.goneAt = true, time.Time{}
		if t.f == nil {
			t.size = fi.Size()
		}
	}
	// Files no longer matched: renamed away or deleted. They are read to
	// their end and let go rotate_wait after their last growth.
	for _, t := range r.files {
		if !seen[t.key] {
			if t.inGlob || t.goneAt.IsZero() {
				t.goneAt = now
			}
			t.inGlob = false
		}
	}
	if r.first || len(r.orphans) > 0 {
		r.findOrphans(cfg)
	}
	r.first = false
	r.rebuildOrder()
}

func excluded(cfg *Config, p string) bool {
	for _, g := range cfg.Exclude {
		if ok, _ := filepath.Match(g, p); ok {
			return true
		}
		if ok, _ := filepath.Match(g, filepath.Base(p)); ok {
			return true
		}
	}
	return false
}

func keyOf(fi os.FileInfo) fileKey {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileKey{}
}

// fingerprint reads the first n bytes of f (fewer if it is shorter).
func fingerprint(f *os.File, n int) (int, [32]byte, error) {
	b := make([]byte, n)
	got, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return 0, [32]byte{}, err
	}
	return got, sha256.Sum256(b[:got]), nil
}

// fingerprintAt says whether f's first n bytes hash to fp.
func fingerprintIs(f *os.File, n int, fp [32]byte) bool {
	if n == 0 {
		return true
	}
	got, sum, err := fingerprint(f, n)
	return err == nil && got == n && sum == fp
}

func decodeFP(s string) ([32]byte, bool) {
	var fp [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return fp, false
	}
	copy(fp[:], b)
	return fp, true
}

// discover starts following a file at a device/inode not followed yet.
func (r *reader) discover(cfg *Config, p string, fi os.FileInfo, k fileKey) *tail {
	if !r.reserveSlot(nil) {
		return nil // found again at the next poll
	}
	f, err := os.Open(p)
	if err != nil {
		r.warnOnce("open:"+p, "cannot open file", "path", p, "error", err)
		return nil
	}
	r.open++
	n, fp, err := fingerprint(f, int(cfg.FingerprintBytes))
	if err != nil {
		f.Close()
		r.open--
		r.warnOnce("read:"+p, "cannot read file", "path", p, "error", err)
		return nil
	}
	t := &tail{key: k, path: p, meta: metaFromPath(p, cfg.Source), fpLen: n, fp: fp, f: f, size: fi.Size(), lastUse: time.Now(), seed: newSeed()}
	r.opened[t] = struct{}{}
	full := n == int(cfg.FingerprintBytes)
	start, how := int64(0), "new file: read from the beginning"
	// A checkpointed file: the same device/inode and first bytes, or (when
	// the fingerprint is whole) the same first bytes anywhere.
	for i, o := range r.orphans {
		ofp, ok := decodeFP(o.FP)
		if !ok || o.FPLen > n {
			continue
		}
		sameIno := o.Dev == k.dev && o.Ino == k.ino
		if !(sameIno || (full && o.FPLen == n)) || !fingerprintIs(f, o.FPLen, ofp) {
			continue
		}
		r.orphans = append(r.orphans[:i], r.orphans[i+1:]...)
		start, how = o.Offset, "resumed at its checkpoint"
		if seed, ok := decodeSeed(o.Seed); ok {
			t.seed, t.seedSaved = seed, true
		}
		if start > t.size {
			r.truncated(cfg, t, o.Offset, ofp, o.FPLen)
			start, how = 0, "truncated while the agent was stopped: read from the beginning"
		}
		goto found
	}
	if full {
		// A copy of a file followed (copytruncate under way, or a copy
		// into a matched name): the same first bytes, another inode.
		for _, o := range r.files {
			if o.fpLen == n && o.fp == fp && o.shadow == nil {
				t.shadowT, t.shadowOf = time.Now(), o
				o.shadow = t
				r.files[k] = t
				t.readOff, t.emitOff, t.doneOff, t.saveOff = t.size, t.size, t.size, t.size
				r.in.log.Info("file has the same first bytes as one followed: held until that one is truncated", "path", p, "original", o.path)
				return t
			}
		}
	}
	if r.first && cfg.StartAt == "end" {
		start, how = t.size, "present at first start: read from its end (start_at: end)"
	}
found:
	t.readOff, t.emitOff, t.doneOff, t.saveOff = start, start, start, start
	r.files[k] = t
	r.dirty = true
	r.in.log.Info("following file", "path", p, "offset", start, "how", how)
	return t
}

// findOrphans looks for checkpointed files no glob found again: renamed
// while the agent was stopped (app.log → app.log.1), they are in the same
// directory under another name. They are read first, to their end.
func (r *reader) findOrphans(cfg *Config) {
	if len(r.orphans) == 0 {
		return
	}
	byDir := map[string][]fileOffsets{}
	for _, o := range r.orphans {
		byDir[filepath.Dir(o.Path)] = append(byDir[filepath.Dir(o.Path)], o)
	}
	r.orphans = nil
	for dir, list := range byDir {
		ents, err := os.ReadDir(dir)
		if err != nil {
			r.in.log.Warn("files of the checkpoint not found: directory unreadable", "dir", dir, "files", len(list), "error", err)
			continue
		}
		for _, o := range list {
			t := r.findIn(cfg, dir, ents, o)
			if t == nil {
				r.in.log.Warn("checkpointed file not found again: gone while the agent was stopped", "path", o.Path, "offset", o.Offset)
				continue
			}
		}
	}
}

// minDirFingerprint is the shortest fingerprint that identifies a file
// among those of its own directory.
const minDirFingerprint = 64

// findIn looks in dir for the file o describes: by device/inode first,
// then by a whole fingerprint.
func (r *reader) findIn(cfg *Config, dir string, ents []os.DirEntry, o fileOffsets) *tail {
	ofp, ok := decodeFP(o.FP)
	if !ok {
		return nil
	}
	var byFP string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		k := keyOf(fi)
		if r.files[k] != nil {
			continue
		}
		if k.dev == o.Dev && k.ino == o.Ino {
			if t := r.openAt(cfg, p, fi, o, ofp); t != nil {
				return t
			}
		}
		// In the same directory a shorter fingerprint is enough (a file
		// truncated shortly before the checkpoint has only a few bytes).
		if byFP == "" && o.FPLen >= minDirFingerprint && fi.Size() >= o.Offset {
			if f, err := os.Open(p); err == nil {
				if fingerprintIs(f, o.FPLen, ofp) {
					byFP = p
				}
				f.Close()
			}
		}
	}
	if byFP != "" {
		if fi, err := os.Stat(byFP); err == nil {
			return r.openAt(cfg, byFP, fi, o, ofp)
		}
	}
	return nil
}

// openAt follows the file at p from o's offset as a rotated file: it is
// read to its end and let go.
func (r *reader) openAt(cfg *Config, p string, fi os.FileInfo, o fileOffsets, ofp [32]byte) *tail {
	if !r.reserveSlot(nil) {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	if !fingerprintIs(f, o.FPLen, ofp) || fi.Size() < o.Offset {
		f.Close()
		return nil
	}
	r.open++
	k := keyOf(fi)
	t := &tail{key: k, path: p, meta: metaFromPath(o.Path, cfg.Source), fpLen: o.FPLen, fp: ofp, f: f, size: fi.Size(),
		readOff: o.Offset, emitOff: o.Offset, doneOff: o.Offset, saveOff: o.Offset, goneAt: time.Now(), lastUse: time.Now(), seed: newSeed()}
	if seed, ok := decodeSeed(o.Seed); ok {
		t.seed, t.seedSaved = seed, true
	}
	r.opened[t] = struct{}{}
	r.files[k] = t
	r.dirty = true
	r.in.log.Info("found a rotated file of the checkpoint under a new name: reading it to its end", "path", p, "was", o.Path, "offset", o.Offset)
	return t
}

// truncated handles a file found shorter than what was read, or with other
// first bytes: the lines between the last entry sent and the truncation
// are looked for in a copy in the same directory (copytruncate), which is
// then read from there; the file itself starts again from 0.
func (r *reader) truncated(cfg *Config, t *tail, oldOff int64, oldFP [32]byte, oldLen int) {
	r.in.c.truncations.Add(1)
	from := oldOff
	var copied *tail
	if c := t.shadow; c != nil {
		copied = c
		c.shadowOf = nil
	} else if oldLen >= minDirFingerprint {
		dir := filepath.Dir(t.path)
		if ents, err := os.ReadDir(dir); err == nil {
			copied = r.findIn(cfg, dir, ents, fileOffsets{Path: t.path, FPLen: oldLen, FP: hex.EncodeToString(oldFP[:]), Offset: from})
		}
	}
	if copied != nil && copied.size >= from {
		copied.readOff, copied.emitOff, copied.doneOff, copied.saveOff = from, from, from, from
		copied.seed, copied.seedSaved = t.seed, false // the same lines at the same offsets
		copied.epoch++
		copied.resetAssembly()
		if copied.goneAt.IsZero() && !copied.inGlob {
			copied.goneAt = time.Now()
		}
		r.in.log.Info("file truncated (copytruncate): reading the rest from its copy", "path", t.path, "copy", copied.path, "offset", from)
	} else {
		lost := max(0, t.size-from)
		if t.f != nil {
			lost = 0 // unknown: what was there past what we read is gone
		}
		r.in.c.lostBytes.Add(lost)
		r.in.log.Warn("file truncated: reading it again from the beginning; lines written after the last read and before the truncation may be lost (no copy found)", "path", t.path, "offset", from)
	}
	t.shadow = nil
	t.seed, t.seedSaved = newSeed(), false // offsets start again: new ids
	t.epoch++
	t.resetAssembly()
	t.readOff, t.emitOff, t.doneOff = 0, 0, 0
	t.fpLen = 0
	r.dirty = true
}

// reserveSlot makes room for one more open file under max_open_files,
// closing the open file read least recently that has nothing left to read
// (never keep). It reports whether there is room.
func (r *reader) reserveSlot(keep *tail) bool {
	cfg := r.in.cfg.Load()
	if r.open < cfg.MaxOpenFiles {
		return true
	}
	var victim *tail
	for t := range r.opened {
		if t == keep || !t.goneAt.IsZero() || t.shadow != nil {
			continue
		}
		if victim == nil || t.lastUse.Before(victim.lastUse) {
			victim = t
		}
	}
	if victim == nil {
		return false
	}
	r.closeFile(victim)
	return true
}

// closeFile closes t's descriptor; what was not sent yet is read again
// when it is opened next.
func (r *reader) closeFile(t *tail) {
	if t.f == nil {
		return
	}
	t.f.Close()
	t.f = nil
	r.open--
	delete(r.opened, t)
	t.resetAssembly()
	t.readOff = t.emitOff
}

// reopen opens a closed file again, by its path when that still holds it,
// else by device/inode in its directory (it was renamed while closed).
func (r *reader) reopen(cfg *Config, t *tail) bool {
	if !r.reserveSlot(t) {
		return false
	}
	try := func(p string) bool {
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		fi, err := f.Stat()
		if err != nil || keyOf(fi) != t.key || !fingerprintIs(f, t.fpLen, t.fp) {
			f.Close()
			return false
		}
		t.f, t.size, t.path = f, fi.Size(), p
		r.open++
		r.opened[t] = struct{}{}
		return true
	}
	if try(t.path) {
		return true
	}
	dir := filepath.Dir(t.path)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if try(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

// forget lets a file go: it was renamed away or deleted and read to its end.
func (r *reader) forget(t *tail) {
	r.flushAll(t, r.in.cfg.Load(), true)
	r.closeFile(t)
	delete(r.files, t.key)
	r.unshadow(t)
	if c := t.shadow; c != nil {
		c.shadowOf = nil
	}
	r.in.c.rotations.Add(1)
	r.dirty = true
	r.in.log.Info("file read to its end and let go", "path", t.path, "offset", t.emitOff)
}

func (r *reader) rebuildOrder() {
	r.order = r.order[:0]
	for _, t := range r.files {
		r.order = append(r.order, t)
	}
	// Rotated files first (they are older), then by path: a stable order
	// whose starting point moves each round.
	sort.Slice(r.order, func(i, j int) bool {
		a, b := r.order[i], r.order[j]
		if (a.goneAt.IsZero()) != (b.goneAt.IsZero()) {
			return !a.goneAt.IsZero()
		}
		return a.path < b.path
	})
	r.in.c.filesWatched.Store(int64(len(r.files)))
}

// roundBudget is how much one round reads in all before the entries are
// appended and synced; turnBudget how much one file reads per turn.
const (
	roundBudget = 8 << 20
	turnBudget  = 1 << 20
)

// readRound gives each file with something to read a turn; it reports
// whether some file has more.
func (r *reader) readRound(ctx context.Context, cfg *Config) (more bool) {
	total := 0
	n := len(r.order)
	if n == 0 {
		return false
	}
	// Rotated files first, in order (they hold the older lines); the turns
	// of the others start one further each round.
	rotated := 0
	for rotated < n && !r.order[rotated].goneAt.IsZero() {
		rotated++
	}
	live := n - rotated
	start := 0
	if live > 0 {
		start = r.next % live
	}
	r.next++
	r.stamp.Set(time.Now())
	var lag int64
	var gone []*tail
	for i := 0; i < n; i++ {
		t := r.order[i]
		if i >= rotated {
			t = r.order[rotated+(start+i-rotated)%live]
		}
		if _, ok := r.files[t.key]; !ok {
			continue
		}
		if r.isShadow(t) {
			if time.Since(t.shadowT) > cfg.RotateWait {
				r.unshadow(t) // a plain copy: only what is added to it is read
			} else {
				continue
			}
		}
		if total >= roundBudget || r.appendErr != nil {
			more = true
			lag += max(0, t.size-t.readOff)
			continue
		}
		got, err := r.turn(ctx, cfg, t)
		total += got
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.warnOnce("turn:"+t.path, "cannot read file", "path", t.path, "error", err)
		}
		if t.readOff < t.size {
			more = true
		}
		lag += max(0, t.size-t.readOff)
		if !t.goneAt.IsZero() && t.readOff >= t.size && time.Since(t.goneAt) > cfg.RotateWait {
			gone = append(gone, t)
		}
		if t.mPending && time.Since(t.mAt) >= cfg.Multiline.Timeout {
			r.flushMulti(t, cfg)
			r.settle(t, t.mLast)
		}
	}
	for _, t := range gone {
		r.forget(t)
	}
	if len(gone) > 0 {
		r.rebuildOrder()
	}
	r.in.c.lagBytes.Store(lag)
	r.in.c.filesOpen.Store(int64(r.open))
	return more
}

func (r *reader) isShadow(t *tail) bool { return t.shadowOf != nil }

func (r *reader) unshadow(t *tail) {
	if o := t.shadowOf; o != nil && o.shadow == t {
		o.shadow = nil
	}
	t.shadowOf = nil
}

// turn reads what t has, up to turnBudget.
func (r *reader) turn(ctx context.Context, cfg *Config, t *tail) (int, error) {
	if t.f == nil {
		if t.size <= t.readOff && t.goneAt.IsZero() {
			return 0, nil // nothing new, by the last poll's stat
		}
		if !r.reopen(cfg, t) {
			if !t.goneAt.IsZero() {
				r.in.c.lostBytes.Add(max(0, t.size-t.emitOff))
				r.warnOnce("lost:"+t.path, "file deleted before it was read to its end", "path", t.path, "offset", t.emitOff, "size", t.size)
				t.size = t.readOff // let it go
			}
			return 0, nil
		}
	}
	fi, err := t.f.Stat()
	if err != nil {
		return 0, err
	}
	t.size = fi.Size()
	if t.size < t.readOff {
		r.truncated(cfg, t, t.emitOff, t.fp, t.fpLen)
	} else if t.size > t.readOff && t.fpLen > 0 && !fingerprintIs(t.f, t.fpLen, t.fp) {
		// Truncated and written again past the old offset between two looks.
		r.truncated(cfg, t, t.emitOff, t.fp, t.fpLen)
	}
	if t.size <= t.readOff {
		return 0, nil
	}
	t.lastUse = time.Now()
	if r.buf == nil || len(r.buf) != int(cfg.ReadBufferBytes) {
		r.buf = make([]byte, cfg.ReadBufferBytes)
	}
	total := 0
	for total < turnBudget && t.readOff < t.size && r.appendErr == nil {
		n, err := t.f.ReadAt(r.buf, t.readOff)
		if n > 0 {
			total += n
			r.unsaved += int64(n)
			r.in.c.bytesRead.Add(int64(n))
			r.consume(ctx, cfg, t, r.buf[:n])
			t.readOff += int64(n)
		}
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return total, err
		}
	}
	if t.fpLen < int(cfg.FingerprintBytes) && t.readOff > int64(t.fpLen) {
		if n, fp, err := fingerprint(t.f, int(cfg.FingerprintBytes)); err == nil {
			t.fpLen, t.fp = n, fp
		}
	}
	return total, nil
}

// consume splits data, the next bytes of t after what was read, into
// lines. A line without its newline yet waits in t.carry.
func (r *reader) consume(ctx context.Context, cfg *Config, t *tail, data []byte) {
	off := t.readOff // file offset of data[0]
	limit := r.physLimit(cfg)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			r.partialLine(ctx, cfg, t, data, off+int64(len(data)), limit)
			return
		}
		seg := data[:i]
		end := off + int64(i) + 1
		if t.skipping {
			t.skipped += int64(len(seg))
			r.endSkip(ctx, cfg, t, end)
		} else if len(t.carry) > 0 {
			t.carry = append(t.carry, seg...)
			r.physLine(ctx, cfg, t, t.carry, end)
			t.carry = t.carry[:0]
			if cap(t.carry) > 64<<10 {
				t.carry = nil
			}
		} else {
			r.physLine(ctx, cfg, t, seg, end)
		}
		data = data[i+1:]
		off = end
		r.appendIfFull(ctx)
	}
}

// physLimit is the longest physical line kept whole: max_line_bytes, with
// room for the JSON or prefix of container formats.
func (r *reader) physLimit(cfg *Config) int {
	n := int(cfg.MaxLineBytes)
	if cfg.Format == FormatDocker || cfg.Format == FormatCRI {
		n = max(2*n+4096, 256<<10)
	}
	return n
}

// resetAssembly drops what was read past emitOff but not sent: it is read
// again from emitOff.
func (t *tail) resetAssembly() {
	t.carry, t.cPending, t.mPending, t.skipping, t.parts = nil, false, false, false, 0
	t.cBuf, t.mBuf, t.head = nil, nil, nil
}

// partialLine keeps bytes of a line whose newline has not come yet; a line
// that grows past the limit is split or cut without being held whole.
func (r *reader) partialLine(ctx context.Context, cfg *Config, t *tail, data []byte, end int64, limit int) {
	if t.skipping {
		t.skipped += int64(len(data))
		return
	}
	t.carry = append(t.carry, data...)
	for len(t.carry) >= limit {
		// What was gathered before this line goes first, whole.
		r.flushAll(t, cfg, false)
		cut := utf8Cut(t.carry, int(cfg.MaxLineBytes))
		pieceEnd := end - int64(len(t.carry)-cut)
		if cfg.LongLines == "truncate" {
			r.in.c.truncatedLines.Add(1)
			t.skipping, t.skipped, t.skipAt = true, int64(len(t.carry)), end-int64(len(t.carry))
			t.head = append(t.head[:0], t.carry[:cut]...) // sent when the line ends
			t.carry = nil
			return
		}
		if t.parts == 0 {
			r.in.c.splitLines.Add(1)
		}
		t.parts++
		r.entry(cfg, t, line{payload: t.carry[:cut], at: pieceEnd - int64(cut)}, partMeta(t.parts, false))
		t.emitOff = pieceEnd
		t.carry = append(t.carry[:0], t.carry[cut:]...)
		r.appendIfFull(ctx)
	}
}

// endSkip sends the head of a truncated line when its newline comes.
func (r *reader) endSkip(ctx context.Context, cfg *Config, t *tail, end int64) {
	t.skipping = false
	r.in.c.linesRead.Add(1)
	r.entry(cfg, t, line{payload: t.head, at: t.skipAt}, []protocol.KV{{Key: []byte("file.truncated_from"), Value: strconv.AppendInt(nil, t.skipped, 10)}})
	t.head = nil
	t.emitOff = end
}

// partMeta is the marker of the parts of a split line.
func partMeta(n int, last bool) []protocol.KV {
	kv := []protocol.KV{{Key: []byte("file.part"), Value: strconv.AppendInt(nil, int64(n), 10)}}
	if last {
		kv = append(kv, protocol.KV{Key: []byte("file.last_part"), Value: []byte("true")})
	}
	return kv
}

// utf8Cut returns where to cut b to at most n bytes without splitting a
// UTF-8 sequence.
func utf8Cut(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// physLine handles one whole physical line ending at file offset end
// (after its newline).
func (r *reader) physLine(ctx context.Context, cfg *Config, t *tail, raw []byte, end int64) {
	r.in.c.linesRead.Add(1)
	begin := end - int64(len(raw)) - 1
	if n := len(raw); n > 0 && raw[n-1] == '\r' && cfg.Format != FormatDocker {
		raw = raw[:n-1]
	}
	var extra []protocol.KV
	if t.parts > 0 { // the last part of a split line
		extra = partMeta(t.parts+1, true)
		t.parts = 0
		begin = t.emitOff
	}
	if len(raw) == 0 && extra == nil {
		r.in.c.emptyLines.Add(1)
		r.settle(t, end)
		return
	}
	l := parseLine(cfg.Format, cfg.LevelField, raw)
	l.at = begin
	if l.bad {
		r.in.c.parseErrors.Add(1)
		r.warnOnce("format:"+t.path, "line not in the configured format: sent as text", "path", t.path, "format", cfg.Format)
	}
	if (cfg.Format == FormatDocker || cfg.Format == FormatCRI) && !l.bad && (l.partial || t.cPending) {
		// Container partials: joined byte for byte until the last piece.
		if !t.cPending {
			t.cPending, t.cStart = true, begin
			t.cTS, t.cStream = append(t.cTS[:0], l.ts...), l.stream
			t.cBuf = t.cBuf[:0]
		}
		t.cBuf = append(t.cBuf, l.payload...)
		if l.partial && len(t.cBuf) < int(cfg.MaxLineBytes) {
			r.settle(t, end)
			return
		}
		l.payload, l.ts, l.stream, l.at = t.cBuf, t.cTS, t.cStream, t.cStart
		t.cPending = false
		begin = t.cStart
		r.logical(cfg, t, l, begin, end, extra)
		t.cBuf = t.cBuf[:0]
		if cap(t.cBuf) > 64<<10 {
			t.cBuf = nil
		}
		return
	}
	r.logical(cfg, t, l, begin, end, extra)
}

// logical handles one whole line from begin to end: multiline grouping,
// then the entry.
func (r *reader) logical(cfg *Config, t *tail, l line, begin, end int64, extra []protocol.KV) {
	re := cfg.startPattern
	if re == nil {
		r.entry(cfg, t, l, extra)
		r.settle(t, end)
		return
	}
	if t.mPending && re.Match(l.payload) {
		r.flushMulti(t, cfg)
	}
	if !t.mPending {
		t.mPending, t.mStart, t.mLines = true, begin, 1
		t.mBuf = append(t.mBuf[:0], l.payload...)
		t.mTS, t.mStream, t.mLvl, t.mJSON = append(t.mTS[:0], l.ts...), l.stream, l.level, l.json
	} else {
		t.mBuf = append(append(t.mBuf, '\n'), l.payload...)
		t.mLines++
		t.mJSON = false
	}
	t.mLast, t.mAt = end, time.Now()
	if t.mLines >= cfg.Multiline.MaxLines || len(t.mBuf) >= int(cfg.MaxLineBytes) {
		r.flushMulti(t, cfg)
	}
	r.settle(t, end)
}

// flushMulti sends the multiline entry gathered.
func (r *reader) flushMulti(t *tail, cfg *Config) {
	if !t.mPending {
		return
	}
	t.mPending = false
	r.entry(cfg, t, line{payload: t.mBuf, ts: t.mTS, stream: t.mStream, level: t.mLvl, json: t.mJSON, at: t.mStart}, nil)
	t.mBuf = t.mBuf[:0]
	if cap(t.mBuf) > 64<<10 {
		t.mBuf = nil
	}
}

// flushAll sends whatever is being gathered: before a long line's parts,
// and when a file is let go (then also a last line without its newline).
func (r *reader) flushAll(t *tail, cfg *Config, final bool) {
	if t.cPending {
		t.cPending = false
		r.logical(cfg, t, line{payload: t.cBuf, ts: t.cTS, stream: t.cStream, at: t.cStart}, t.cStart, t.cStart, nil)
	}
	r.flushMulti(t, cfg)
	if final && len(t.carry) > 0 && !t.skipping {
		r.physLine(context.Background(), cfg, t, append(t.carry, '\n')[:len(t.carry)], t.readOff)
		t.carry = nil
	}
	if final {
		t.emitOff = t.readOff
	}
}

// settle records that every line up to end is handled, except those of an
// entry still being gathered.
func (r *reader) settle(t *tail, end int64) {
	off := end
	if t.mPending {
		off = t.mStart
	}
	if t.cPending {
		off = min(off, t.cStart)
	}
	t.emitOff = max(t.emitOff, off)
}

// entry makes l into a record in the batch.
func (r *reader) entry(cfg *Config, t *tail, l line, extra []protocol.KV) {
	payload := l.payload
	if max := int(cfg.MaxLineBytes); len(payload) > max {
		// An entry gathered from several lines grew past the limit.
		if cfg.LongLines == "truncate" {
			r.in.c.truncatedLines.Add(1)
			cut := utf8Cut(payload, max)
			l.payload = payload[:cut]
			r.entry(cfg, t, l, append(extra[:len(extra):len(extra)], protocol.KV{Key: []byte("file.truncated_from"), Value: strconv.AppendInt(nil, int64(len(payload)), 10)}))
			return
		}
		r.in.c.splitLines.Add(1)
		for n := 1; len(payload) > 0; n++ {
			cut := utf8Cut(payload, max)
			l.payload, l.part = payload[:cut], n
			payload = payload[cut:]
			r.entry(cfg, t, l, append(extra[:len(extra):len(extra)], partMeta(n, len(payload) == 0)...))
		}
		return
	}
	if len(payload) == 0 {
		r.in.c.emptyLines.Add(1)
		return
	}
	level := int(cfg.Level)
	if l.level > 0 {
		level = l.level
	}
	if l.stream == "stderr" && cfg.StderrLevel > 0 {
		level = int(cfg.StderrLevel)
	}
	kvs := append(r.kvs[:0], t.meta.kvs...)
	if l.stream != "" {
		kvs = append(kvs, protocol.KV{Key: []byte("stream"), Value: []byte(l.stream)})
	}
	kvs = append(kvs, extra...)
	r.kvs = kvs
	f := protocol.Fields{Payload: payload, Source: t.meta.sourceB, EntryType: 1, LogLevel: level, Timestamp: l.ts, Metadata: kvs}
	switch {
	case l.json:
		f.PayloadType = payloadJSON
	case cfg.Format == FormatDocker || cfg.Format == FormatCRI:
		f.PayloadType = payloadContainer
	}
	e, replaced, err := r.maker.Make(&f)
	if err != nil {
		r.in.c.rejectedInvalid.Add(1)
		r.warnOnce("invalid:"+t.path, "line refused by the entry rules (counted in entries_rejected_invalid)", "path", t.path, "error", err.Error())
		return
	}
	if replaced > 0 {
		r.in.c.invalidUTF8.Add(1)
	}
	if r.in.filter != nil { // redaction, before anything is written
		r.one = append(r.one[:0], e)
		kept := r.in.filter.Filter(r.one)
		if len(kept) == 0 {
			return // dropped by a drop_entry rule, and counted there
		}
		e = kept[0]
	}
	n := len(r.batch)
	r.batch = protocol.AppendRecordStamp(r.batch, &e, &r.stamp)
	lineID((*[36]byte)(r.batch[n+len(`{"id":"`):]), &t.seed, l.at, l.part)
	r.ends = append(r.ends, len(r.batch))
}

var (
	payloadJSON      = []byte("generic_json")
	payloadContainer = []byte("container")
)

// appendIfFull appends the batch once it is as large as one append may
// be. After a failure (the queue closed or failing) nothing more is
// appended until commit succeeds; reading stops at the end of the turn.
func (r *reader) appendIfFull(ctx context.Context) {
	if len(r.batch) >= r.in.maxAppend && r.appendErr == nil {
		r.appendErr = r.appendBatch(ctx)
	}
}

// appendBatch hands the batch to the queue; every offset reached is then
// covered by an append.
func (r *reader) appendBatch(ctx context.Context) error {
	if len(r.ends) > 0 {
		r.recs = r.recs[:0]
		start := 0
		for _, end := range r.ends {
			r.recs = append(r.recs, r.batch[start:end])
			start = end
		}
		if err := r.saveSeeds(); err != nil {
			return err
		}
		r.prov.ready = false
		if r.provisionalDue(len(r.batch)) {
			r.ckptFiles = r.checkpointFiles(r.ckptFiles[:0], emitOff, nil)
			r.prov.prepare(r.ckptFiles) // what the append covers, written with it (beforeWrite)
		}
		err := r.appendRetry(ctx, r.recs)
		if r.prov.seqs != nil {
			r.afterAppend(err, len(r.batch))
		}
		if err != nil {
			return err
		}
		r.in.c.accepted.Add(int64(len(r.ends)))
		r.batch, r.ends = r.batch[:0], r.ends[:0]
		if cap(r.batch) > 4*r.in.maxAppend {
			r.batch = nil
		}
	}
	for _, t := range r.files {
		if t.doneOff != t.emitOff {
			t.doneOff = t.emitOff
			r.dirty = true
		}
	}
	return nil
}
