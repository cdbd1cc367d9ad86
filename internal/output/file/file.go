// Package file is the output that appends entries as NDJSON to a local file, rotating it by size.
package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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

// Output appends one normalised entry per line to a file.
type Output struct {
	opts Options

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	size      int64
	reserved  int64 // file offset up to which disk is reserved
	noReserve bool  // the file cannot have disk reserved (or given back): just write
	lastWrite time.Time
	idle      *time.Timer // gives the reservation back once writes stop

	roomChecked time.Time // when the reservation was last weighed against the free space (room.go)
}

var _ output.Output = (*Output)(nil)

// New opens (creating if needed) the file and its directory.
func New(opts Options) (*Output, error) {
	if opts.Name == "" {
		opts.Name = "file"
	}
	if opts.ReleaseIdle <= 0 {
		opts.ReleaseIdle = DefaultReleaseIdle
	}
	o := &Output{opts: opts}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file output: %w", err)
	}
	if err := o.open(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Output) open() error {
	f, err := os.OpenFile(o.opts.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
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
	// Truncating to the same size gives back what a crash left reserved past
	// the end. Where it fails (an append-only file, a device), the output
	// reserves nothing, since it could not give it back.
	o.noReserve = f.Truncate(size) != nil
	o.f, o.size, o.reserved = f, size, size
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
// system before it returns (and to the disk, with Sync).
func (o *Output) Write(_ context.Context, records [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		if err := o.open(); err != nil {
			return err // retryable: the directory may come back
		}
	}
	o.lastWrite = time.Now()
	for _, r := range records {
		n := int64(len(r) + 1)
		if o.size > 0 && o.opts.MaxSize > 0 && o.size+n > o.opts.MaxSize {
			if err := o.rotate(); err != nil {
				return err
			}
		}
		if o.size+n > o.reserved {
			o.reserve(n)
		}
		o.w.Write(r)
		o.w.WriteByte('\n')
		o.size += n
	}
	if err := o.w.Flush(); err != nil {
		o.reset()
		return fmt.Errorf("file output: %w", err)
	}
	o.giveBackIfShort()
	if o.opts.Sync {
		if err := o.f.Sync(); err != nil {
			o.reset()
			return fmt.Errorf("file output: %w", err)
		}
	}
	return nil
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

// reset drops the open file after a failure so that the next Write reopens
// it; the failed batch is written again in full.
func (o *Output) reset() {
	o.w.Reset(nil)
	o.f.Close()
	o.f = nil
}

// rotate renames path to path.1 (shifting older ones up, dropping the oldest
// beyond MaxFiles) and starts a new file.
func (o *Output) rotate() error {
	if err := o.w.Flush(); err != nil {
		o.reset()
		return fmt.Errorf("file output: %w", err)
	}
	if err := errors.Join(o.release(), o.f.Close()); err != nil {
		o.f = nil
		return fmt.Errorf("file output: %w", err)
	}
	o.f = nil
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

// Close flushes and closes the file.
func (o *Output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.idle != nil {
		o.idle.Stop()
	}
	if o.f == nil {
		return nil
	}
	err := o.w.Flush()
	if err == nil {
		err = o.release()
	}
	if o.opts.Sync {
		err = errors.Join(err, o.f.Sync())
	}
	err = errors.Join(err, o.f.Close())
	o.f = nil
	return err
}
