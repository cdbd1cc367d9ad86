// Package file is the output that appends entries as NDJSON to a local file, rotating it by size, each entry exactly once across crashes.
package file

// Exactly once
//
// The output appends entries to path and rotates by renaming path to
// path.1 (path.1 to path.2, and so on, path.MaxFiles dropped) and starting a
// new path. After every Write the dispatcher commits, together with the
// queue position after the entries written, the output's state:
//
//	+---------+---------+---------+----------+
//	| version |  inode  |  size   | head crc |
//	|    1    |    8    |    8    |    4     |
//	+---------+---------+---------+----------+
//
// naming the file being written (its inode, and the crc32c of its first
// min(size, headBytes) bytes, which tells it apart from a later file given
// the same inode after the first was removed) and its size. The invariant:
// the output's files, up to that size of that file, hold exactly the
// entries before that queue position, each once.
//
// The order of writes, fsyncs and commits, which keeps it across kill -9
// and power loss:
//
//  1. Write appends the entries and hands them to the kernel before it
//     returns, rotating first wherever the file would grow past MaxSize.
//  2. The dispatcher commits the queue position with State (in memory).
//  3. Before the queue writes a position and its state to disk (one atomic
//     write), it calls Sync: an fsync of every file written since the last
//     Sync (rotated ones and the current one), and of the directory when a
//     file was created, renamed or removed. So a state on disk never names
//     bytes or names that are not on disk. That is one fsync per position
//     write (the disk queue's commit interval), not one per Write.
//  4. On start (Resume) the output looks for the state's file among path,
//     path.1 ... path.MaxFiles, cuts it back to the state's size, removes
//     the files newer than it, and fsyncs that; then it appends to path.
//     What it cut and removed was written after the position, and the
//     queue delivers it again. Every step can be repeated, so a crash during
//     recovery is recovered from the same way.
//
// A Write that fails goes back the same way to the state of the last good
// Write, so that a batch written again (part of it perhaps before a
// rotation) is not written twice.
//
// Where the state's file cannot be found (removed or renamed by something
// else, or dropped by max_files after more rotations than fit between two
// position writes) or is shorter than the state says, the output cannot
// tell what its files hold past the position: it says so in the log, keeps
// the files and cuts only a torn last line, and the entries after the
// position may be written twice. The same goes for a queue that does not
// keep states (queue.StateReader) and a queue position that was lost or
// damaged. With no state yet (the first start, or the first after an
// upgrade), the dispatcher commits State, the file as open found it, and
// waits until that is on disk before the first Write
// (queue.StateReader.CommitStateDurable), so that the first start is exact
// like every other.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/output"
)

// Options configure a file output.
type Options struct {
	Name     string
	Path     string
	MaxSize  int64 // rotate before the file would grow past this many bytes
	MaxFiles int   // rotated files kept beside the current one (path.1 is the newest)
	Sync     bool  // fsync after every write, so delivered entries survive a machine crash
	// ReleaseIdle is how long the disk reserved past the file's end is kept
	// without a write (default DefaultReleaseIdle).
	ReleaseIdle time.Duration
}

// DefaultReleaseIdle is how long an idle output keeps disk reserved.
const DefaultReleaseIdle = time.Minute

// reserveStep is how much disk the output reserves ahead of what it writes
// (without changing the file's size). Writing into reserved blocks costs the
// kernel about a quarter less CPU than growing the file block by block
// (`go run ./bench/pagecost`); what is left unused is given back at rotation
// and Close, after ReleaseIdle without a write, and by the next start after
// a crash.
const reserveStep = 16 << 20

// headBytes is how much of the start of a file its state's checksum covers.
const headBytes = 4 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Output appends one normalised entry per line to a file.
type Output struct {
	opts Options
	log  *slog.Logger

	syncMu sync.Mutex // serialises Sync and Close; taken before mu

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	size      int64
	ino       uint64 // f's inode
	head      uint32 // crc32c of f's first min(size, headBytes) bytes
	last      state  // the files as the last good Write (or the start) left them
	resume    *state // go back to this before the next write (Resume, a failed Write)
	stateBuf  [stateSize]byte
	toSync    []*os.File // written since the last Sync and no longer written to; Sync closes them
	dirDirty  bool       // a file was created, renamed or removed since the last Sync
	reserved  int64      // file offset up to which disk is reserved
	noReserve bool       // the file cannot have disk reserved (or given back): just write
	lastWrite time.Time
	idle      *time.Timer // gives the reservation back once writes stop

	roomChecked time.Time // when the reservation was last weighed against the free space (room.go)
}

var _ output.Resumable = (*Output)(nil)

// New opens (creating if needed) the file and its directory.
func New(opts Options) (*Output, error) {
	if opts.Name == "" {
		opts.Name = "file"
	}
	if opts.ReleaseIdle <= 0 {
		opts.ReleaseIdle = DefaultReleaseIdle
	}
	o := &Output{opts: opts, log: slog.Default().With("output", opts.Name, "path", opts.Path)}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file output: %w", err)
	}
	if err := o.start(); err != nil {
		return nil, err
	}
	return o, nil
}

// state is where the output's files end: see the top of this file.
type state struct {
	ino  uint64
	size int64
	head uint32
}

const stateSize = 1 + 8 + 8 + 4

// encode writes s into b (stateSize bytes) and returns it.
func (s state) encode(b []byte) []byte {
	b = b[:stateSize]
	b[0] = 1
	binary.LittleEndian.PutUint64(b[1:], s.ino)
	binary.LittleEndian.PutUint64(b[9:], uint64(s.size))
	binary.LittleEndian.PutUint32(b[17:], s.head)
	return b
}

func decodeState(b []byte) (state, error) {
	if len(b) != stateSize || b[0] != 1 {
		return state{}, fmt.Errorf("a state of %d bytes is not one this agent writes", len(b))
	}
	s := state{
		ino:  binary.LittleEndian.Uint64(b[1:]),
		size: int64(binary.LittleEndian.Uint64(b[9:])),
		head: binary.LittleEndian.Uint32(b[17:]),
	}
	if s.size < 0 {
		return state{}, errors.New("a state with a negative size")
	}
	return s, nil
}

// Resume goes back to the files as state describes them (see the top of
// this file). A failure is logged, and the next Write tries again.
func (o *Output) Resume(b []byte) {
	if b == nil {
		return // nothing recorded: append to the file as it is
	}
	s, err := decodeState(b)
	if err != nil {
		o.log.Warn("file output: the queue position's state is unreadable; entries after it may be written twice", "error", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resume = &s
	o.drop()
	if err := o.start(); err != nil {
		o.log.Warn("file output: cannot go back to the queue position yet; trying again at the next write", "error", err)
	}
}

// State describes the files as the last good Write left them; what it
// returns is valid until the next call.
func (o *Output) State() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last.encode(o.stateBuf[:])
}

// Sync makes durable everything written so far, with the names of the
// files; the queue calls it before it writes a position committed with a
// State. Files rotated away are closed once synced.
func (o *Output) Sync() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	files, f, dir := o.toSync, o.f, o.dirDirty
	o.toSync, o.dirDirty = nil, false
	o.mu.Unlock()
	// f stays open: only Sync and Close (which holds syncMu) close a file.
	err := o.syncFiles(files, f, dir)
	if err != nil {
		o.mu.Lock()
		o.toSync = append(files, o.toSync...)
		o.dirDirty = o.dirDirty || dir
		o.mu.Unlock()
	}
	return err
}

// syncFiles fsyncs files, f (if not nil) and the directory (if dir), and
// closes files when all went well.
func (o *Output) syncFiles(files []*os.File, f *os.File, dir bool) error {
	var errs []error
	for _, g := range files {
		errs = append(errs, g.Sync())
	}
	if f != nil {
		errs = append(errs, f.Sync())
	}
	if dir {
		errs = append(errs, syncDir(filepath.Dir(o.opts.Path)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	for _, g := range files {
		g.Close() // synced: nothing to lose
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// start opens path for appending, first going back to o.resume if set.
func (o *Output) start() error {
	if o.resume != nil {
		if err := o.recover(*o.resume); err != nil {
			return err
		}
		o.resume = nil
	}
	if err := o.open(); err != nil {
		return err
	}
	o.last = state{ino: o.ino, size: o.size, head: o.head}
	return nil
}

// names returns path and the rotated files' names, newest first.
func (o *Output) names() []string {
	names := []string{o.opts.Path}
	for i := 1; i <= o.opts.MaxFiles; i++ {
		names = append(names, o.opts.Path+"."+strconv.Itoa(i))
	}
	return names
}

// recover cuts the file s names back to s's size and removes the files
// written after it; see the top of this file.
func (o *Output) recover(s state) error {
	names := o.names()
	for k, name := range names {
		f, size, ok, err := openMatching(name, s)
		if err != nil {
			return fmt.Errorf("file output: recovering: %w", err)
		}
		if !ok {
			continue
		}
		err = o.cut(name, size, s.size)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("file output: recovering: %w", err)
		}
		if k == 0 {
			return nil
		}
		for _, newer := range names[:k] {
			if err := os.Remove(newer); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("file output: recovering: %w", err)
			}
		}
		o.log.Info("file output: removed the files written after the queue position (their entries are written again)",
			"files", names[:k], "kept", name)
		if err := syncDir(filepath.Dir(o.opts.Path)); err != nil {
			return fmt.Errorf("file output: recovering: %w", err)
		}
		return nil
	}
	o.log.Warn("file output: the file the queue position refers to is gone (removed or renamed by something else, or dropped by max_files); entries after the position may be written twice")
	return nil
}

// cut truncates the file called name, of the given size, to want.
func (o *Output) cut(name string, size, want int64) error {
	switch {
	case size < want:
		o.log.Error("file output: the file is shorter than the queue position says (cut by something else?); entries before the position are missing from it",
			"file", name, "size", size, "want", want)
	case size > want:
		if err := os.Truncate(name, want); err != nil {
			if errors.Is(err, os.ErrPermission) {
				o.log.Warn("file output: cannot cut the entries written after the queue position (an append-only file?); they will be written twice",
					"file", name, "error", err)
				return nil
			}
			return err
		}
		o.log.Info("file output: cut the entries written after the queue position (they are written again)",
			"file", name, "bytes", size-want)
	}
	return nil
}

// openMatching opens the file called name if it is the one s names (same
// inode, same first bytes); ok is false when it is not, or does not exist.
func openMatching(name string, s state) (f *os.File, size int64, ok bool, err error) {
	f, err = os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, false, err
	}
	if inode(st) != s.ino {
		f.Close()
		return nil, 0, false, nil
	}
	head, err := headSum(f, min(st.Size(), s.size))
	if err != nil || head != s.head {
		f.Close()
		return nil, 0, false, err
	}
	return f, st.Size(), true, nil
}

// headSum returns the crc32c of the first min(size, headBytes) bytes of f.
func headSum(f *os.File, size int64) (uint32, error) {
	b := make([]byte, min(size, headBytes))
	if n, err := f.ReadAt(b, 0); n < len(b) {
		return 0, err
	}
	return crc32.Checksum(b, castagnoli), nil
}

// inode returns the file's inode number (0 where the system has none).
func inode(st os.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino) // not a uint64 on every system
	}
	return 0
}

// open opens (creating if needed) path for appending.
func (o *Output) open() error {
	f, err := os.OpenFile(o.opts.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	o.dirDirty = true // it may have been created
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	size, err := cutPartialLine(f, st.Size())
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	head, err := headSum(f, size)
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	// Truncating to the same size gives back what a crash left reserved past
	// the end. Where it fails (an append-only file, a device), the output
	// reserves nothing, since it could not give it back.
	o.noReserve = f.Truncate(size) != nil
	o.f, o.size, o.reserved, o.ino, o.head = f, size, size, inode(st), head
	if o.w == nil {
		o.w = bufio.NewWriterSize(f, 256<<10)
	} else {
		o.w.Reset(f)
	}
	return nil
}

// cutPartialLine removes what follows the last newline of a file of the
// given size: a line torn by a crash in the middle of a write. Its entries
// were not confirmed to the queue, so they are written again in full; left
// in place, the next line would be glued to the torn one.
func cutPartialLine(f *os.File, size int64) (int64, error) {
	var buf [64 << 10]byte
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if n < int(end-start) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			cut := start + int64(i) + 1
			if cut == size {
				return size, nil // ends with a whole line: the usual case
			}
			return cut, f.Truncate(cut)
		}
		end = start
	}
	if size == 0 {
		return 0, nil
	}
	return 0, f.Truncate(0) // a single torn line and nothing else
}

// Name identifies the output.
func (o *Output) Name() string { return o.opts.Name }

// Write appends the records, one per line, and hands them to the operating
// system before it returns (and to the disk, with Sync). When it fails, the
// files go back to where the last good Write left them.
func (o *Output) Write(_ context.Context, records [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		if err := o.start(); err != nil {
			return err // retryable: the directory may come back
		}
	}
	o.lastWrite = time.Now()
	for _, r := range records {
		n := int64(len(r) + 1)
		if o.size > 0 && o.opts.MaxSize > 0 && o.size+n > o.opts.MaxSize {
			if err := o.rotate(); err != nil {
				o.fail()
				return err
			}
		}
		if o.size+n > o.reserved {
			o.reserve(n)
		}
		if o.size < headBytes {
			o.sumHead(r)
		}
		o.w.Write(r)
		o.w.WriteByte('\n')
		o.size += n
	}
	if err := o.w.Flush(); err != nil {
		o.fail()
		return fmt.Errorf("file output: %w", err)
	}
	o.giveBackIfShort()
	if o.opts.Sync {
		if err := o.f.Sync(); err != nil {
			o.fail()
			return fmt.Errorf("file output: %w", err)
		}
	}
	o.last = state{ino: o.ino, size: o.size, head: o.head}
	return nil
}

var newline = []byte{'\n'}

// sumHead adds the line r, about to be written at o.size, to o.head.
func (o *Output) sumHead(r []byte) {
	room := headBytes - o.size
	o.head = crc32.Update(o.head, castagnoli, r[:min(int64(len(r)), room)])
	if int64(len(r)) < room {
		o.head = crc32.Update(o.head, castagnoli, newline)
	}
}

// fail drops the open file after a failed Write, so that the next Write
// goes back to where the last good one left the files and writes the
// failed batch again in full.
func (o *Output) fail() {
	last := o.last
	o.resume = &last
	o.drop()
}

// drop hands the open file, if any, to the next Sync (which closes it) and
// leaves the output without one.
func (o *Output) drop() {
	if o.f == nil {
		return
	}
	o.w.Reset(nil)
	o.toSync = append(o.toSync, o.f)
	o.f = nil
}

// reserve reserves disk for the next reserveStep bytes (at least n, and not
// past the rotation size). Where the filesystem cannot, the output stops
// trying and simply writes.
func (o *Output) reserve(n int64) {
	if o.noReserve {
		return
	}
	step := int64(reserveStep)
	if o.opts.MaxSize > 0 {
		step = min(step, o.opts.MaxSize-o.size)
	}
	step = max(step, n)
	if step = min(step, o.reserveCap()); step < n {
		return // the disk is getting full: write without reserving
	}
	if err := reserveSpace(o.f, o.size, step); err != nil {
		o.noReserve = true
		return
	}
	o.reserved = o.size + step
	if o.idle == nil {
		o.idle = time.AfterFunc(o.opts.ReleaseIdle, o.releaseIfIdle)
	} else {
		o.idle.Reset(o.opts.ReleaseIdle)
	}
}

// releaseIfIdle gives the reservation back when nothing was written for
// ReleaseIdle, and looks again later otherwise.
func (o *Output) releaseIfIdle() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil || o.reserved <= o.size {
		return
	}
	if wait := o.opts.ReleaseIdle - time.Since(o.lastWrite); wait > 0 {
		o.idle.Reset(wait)
		return
	}
	if err := o.release(); err != nil {
		o.noReserve = true // it could not be given back: reserve no more
	}
}

// release gives back the disk reserved past the end of the file, after a Flush.
func (o *Output) release() error {
	if o.reserved <= o.size {
		return nil
	}
	o.reserved = o.size
	return o.f.Truncate(o.size) // the same size: drops only the blocks past it
}

// rotate renames path to path.1 (shifting older ones up, dropping the oldest
// beyond MaxFiles) and starts a new file. The file rotated away is fsynced
// by the next Sync.
func (o *Output) rotate() error {
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	if err := o.release(); err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	o.drop()
	o.dirDirty = true
	keep := o.opts.MaxFiles
	os.Remove(o.opts.Path + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		err := os.Rename(o.opts.Path+"."+strconv.Itoa(i), o.opts.Path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file output: rotating: %w", err)
		}
	}
	if keep >= 1 {
		if err := os.Rename(o.opts.Path, o.opts.Path+".1"); err != nil {
			return fmt.Errorf("file output: rotating: %w", err)
		}
	} else {
		os.Remove(o.opts.Path)
	}
	return o.open()
}

// Close writes out, fsyncs and closes the files.
func (o *Output) Close(context.Context) error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.idle != nil {
		o.idle.Stop()
	}
	var err error
	if o.f != nil {
		err = o.w.Flush()
		if err == nil {
			err = o.release()
		}
		if err != nil {
			err = fmt.Errorf("file output: %w", err)
			o.fail() // the next start goes back to the last good Write
		}
		o.drop()
	}
	files, dir := o.toSync, o.dirDirty
	o.toSync, o.dirDirty = nil, false
	if serr := o.syncFiles(files, nil, dir); serr != nil {
		// Kept for the queue's next Sync: no position is written for them until then.
		o.toSync, o.dirDirty = files, dir
		err = errors.Join(err, serr)
	}
	return err
}
