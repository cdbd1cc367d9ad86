// Package faultfs is an in-memory diskqueue.FS that tracks what is durable, so tests can simulate a crash, and injects I/O faults such as a failing fsync or a full disk.
package faultfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/logflux/agent/internal/diskqueue"
)

// Op names an operation, for hooks and counters.
type Op int

// Operations.
const (
	OpOpen Op = iota
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpRemove
	OpRename
	OpReadDir
	OpSyncDir
	numOps
)

var opNames = [numOps]string{"open", "read", "write", "sync", "truncate", "remove", "rename", "readdir", "syncdir"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// ErrInjected is a ready-made error for hooks to return.
var ErrInjected = errors.New("faultfs: injected fault")

// FS is the in-memory filesystem. It is safe for concurrent use.
//
// Durability model: a file's content becomes durable at File.Sync; a
// directory's entries (creations, removals, renames) become durable at
// SyncDir of that directory. CrashClone returns the filesystem as a restart
// after a power loss would find it: durable state only, or, given a random
// source, a torn mix (a random prefix of the pending directory changes, in
// order, and for each file some of its unsynced bytes, possibly ending in
// garbage, followed by its old bytes where it was written over). Directories created with MkdirAll are durable at once.
type FS struct {
	mu       sync.Mutex
	dirs     map[string]bool
	files    map[string]*node // the namespace now
	durable  map[string]*node // the namespace a crash would leave
	pending  []nsOp           // namespace changes not yet durable, in order
	capacity int64            // bytes of file data allowed; 0 means no limit
	used     int64
	hook     func(Op, string) error
	counts   [numOps]int64
}

type node struct {
	data   []byte // content now
	synced []byte // content a crash would leave
}

type nsOp struct {
	name string
	n    *node  // nil: remove
	from string // a rename from this name: one step, as on a real filesystem
}

// apply makes op's change to the namespace names.
func (op nsOp) apply(names map[string]*node) {
	if op.n == nil {
		delete(names, op.name)
		return
	}
	if op.from != "" {
		delete(names, op.from)
	}
	names[op.name] = op.n
}

var _ diskqueue.FS = (*FS)(nil)

// New returns an empty filesystem.
func New() *FS {
	return &FS{dirs: map[string]bool{"/": true, ".": true}, files: map[string]*node{}, durable: map[string]*node{}}
}

// SetHook installs h, called before every operation with the operation and
// the path; a non-nil error fails the operation with it (before any effect).
// h runs without the filesystem's lock held, so it may sleep. nil removes it.
func (f *FS) SetHook(h func(op Op, name string) error) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

// SetCapacity limits the bytes all files may hold together (0: no limit). A
// write past it writes what fits and fails with ENOSPC, like a real disk.
func (f *FS) SetCapacity(bytes int64) {
	f.mu.Lock()
	f.capacity = bytes
	f.mu.Unlock()
}

// Used returns the bytes all files hold now.
func (f *FS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// Count returns how many times op was called.
func (f *FS) Count(op Op) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// ReadFile returns a copy of the current content of name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.files[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return bytes.Clone(n.data), nil
}

// WriteFile replaces the content of name, creating it, and makes the result
// durable at once: for setting up on-disk states, such as damage, in tests.
func (f *FS) WriteFile(name string, data []byte) error {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirs[filepath.Dir(name)] {
		return &fs.PathError{Op: "write", Path: name, Err: fs.ErrNotExist}
	}
	n, ok := f.files[name]
	if !ok {
		n = &node{}
		f.files[name] = n
	}
	f.used += int64(len(data) - len(n.data))
	n.data, n.synced = bytes.Clone(data), bytes.Clone(data)
	f.durable[name] = n
	return nil
}

// CrashClone returns the state a restart would find after a crash now. With
// rng nil only durable state survives; otherwise a random part of what was
// not yet durable survives too (see FS). The clone
// shares nothing with f: the crashed process may go on using f harmlessly.
func (f *FS) CrashClone(rng *rand.Rand) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make(map[string]*node, len(f.durable))
	for name, n := range f.durable {
		names[name] = n
	}
	if rng != nil {
		for _, op := range f.pending[:rng.IntN(len(f.pending)+1)] {
			op.apply(names)
		}
	}
	c := New()
	for d := range f.dirs {
		c.dirs[d] = true
	}
	clones := map[*node]*node{}
	for name, n := range names {
		cn, ok := clones[n]
		if !ok {
			content := bytes.Clone(n.synced)
			if rng != nil {
				content = tear(rng, n.synced, n.data)
			}
			cn = &node{data: content, synced: bytes.Clone(content)}
			clones[n] = cn
			c.used += int64(len(content))
		}
		c.files[name] = cn
		c.durable[name] = cn
	}
	c.capacity = f.capacity
	return c
}

// tear returns what a crash may leave of a file whose durable content is
// synced and whose current content is cur.
func tear(rng *rand.Rand, synced, cur []byte) []byte {
	common := 0
	for common < len(synced) && common < len(cur) && synced[common] == cur[common] {
		common++
	}
	switch rng.IntN(4) {
	case 0: // none of the unsynced changes reached the disk
		return bytes.Clone(synced)
	case 1: // all of them did
		return bytes.Clone(cur)
	default: // some did: up to a point part-way through them
		k := common + rng.IntN(len(cur)-common+1)
		out := bytes.Clone(cur[:k])
		if rng.IntN(2) == 0 {
			// ... with a garbage block at the end
			for i := max(common, k-1-rng.IntN(16)); i < k; i++ {
				out[i] = byte(rng.UintN(256))
			}
		}
		// A file being written over keeps its old bytes past that point.
		if len(synced) > k {
			out = append(out, synced[k:]...)
		}
		return out
	}
}

func (f *FS) call(op Op, name string) error {
	f.mu.Lock()
	f.counts[op]++
	h := f.hook
	f.mu.Unlock()
	if h == nil {
		return nil
	}
	if err := h(op, name); err != nil {
		return &fs.PathError{Op: op.String(), Path: name, Err: err}
	}
	return nil
}

// OpenFile opens name; flags as for os.OpenFile (O_RDONLY, O_WRONLY, O_RDWR,
// O_CREATE, O_EXCL, O_TRUNC; O_APPEND is not supported).
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (diskqueue.File, error) {
	if err := f.call(OpOpen, name); err != nil {
		return nil, err
	}
	if flag&os.O_APPEND != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("faultfs: O_APPEND is not supported")}
	}
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.files[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		if !f.dirs[filepath.Dir(name)] {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		n = &node{}
		f.files[name] = n
		f.pending = append(f.pending, nsOp{name: name, n: n})
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if flag&os.O_TRUNC != 0 && acc != os.O_RDONLY {
		f.used -= int64(len(n.data))
		n.data = n.data[:0:0]
	}
	return &file{fs: f, n: n, name: name, read: acc != os.O_WRONLY, write: acc != os.O_RDONLY}, nil
}

// Remove removes name; open handles keep working, as on Unix.
func (f *FS) Remove(name string) error {
	if err := f.call(OpRemove, name); err != nil {
		return err
	}
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.files[name]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(f.files, name)
	f.used -= int64(len(n.data))
	f.pending = append(f.pending, nsOp{name: name})
	return nil
}

// Rename moves oldname over newname.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.call(OpRename, oldname); err != nil {
		return err
	}
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if old, ok := f.files[newname]; ok && old != n {
		f.used -= int64(len(old.data))
	}
	delete(f.files, oldname)
	f.files[newname] = n
	f.pending = append(f.pending, nsOp{name: newname, n: n, from: oldname})
	return nil
}

// ReadDir returns the sorted names in dir.
func (f *FS) ReadDir(dir string) ([]string, error) {
	if err := f.call(OpReadDir, dir); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirs[dir] {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var names []string
	for name := range f.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll creates dir and its parents (durably at once).
func (f *FS) MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	for d := dir; !f.dirs[d]; d = filepath.Dir(d) {
		f.dirs[d] = true
	}
	return nil
}

// SyncDir makes the pending creations, removals and renames in dir durable.
func (f *FS) SyncDir(dir string) error {
	if err := f.call(OpSyncDir, dir); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirs[dir] {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	rest := f.pending[:0]
	for _, op := range f.pending {
		if filepath.Dir(op.name) != dir {
			rest = append(rest, op)
			continue
		}
		op.apply(f.durable)
	}
	clear(f.pending[len(rest):])
	f.pending = rest
	return nil
}

// Names returns every file name, sorted (a test helper).
func (f *FS) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for name := range f.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

type file struct {
	fs          *FS
	n           *node
	name        string
	read, write bool
	closed      bool
}

var errReadOnly = errors.New("faultfs: file not open for writing")

func (h *file) check(op string, write bool) error {
	switch {
	case h.closed:
		return &fs.PathError{Op: op, Path: h.name, Err: fs.ErrClosed}
	case write && !h.write:
		return &fs.PathError{Op: op, Path: h.name, Err: errReadOnly}
	case !write && !h.read:
		return &fs.PathError{Op: op, Path: h.name, Err: errors.New("faultfs: file not open for reading")}
	}
	return nil
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	if err := h.fs.call(OpRead, h.name); err != nil {
		return 0, err
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	if err := h.fs.call(OpWrite, h.name); err != nil {
		return 0, err
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: errors.New("negative offset")}
	}
	var err error
	size := int64(len(h.n.data))
	if end := off + int64(len(p)); f.capacity > 0 && end > size && f.used+end-size > f.capacity {
		fits := max(0, size+f.capacity-f.used-off) // bytes from off that fit
		p = p[:min(int64(len(p)), fits)]
		err = &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
	}
	if end := off + int64(len(p)); end > size {
		h.n.data = append(h.n.data, make([]byte, end-size)...)
		f.used += end - size
	}
	copy(h.n.data[off:], p)
	return len(p), err
}

func (h *file) Sync() error {
	if err := h.fs.call(OpSync, h.name); err != nil {
		return err
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "sync", Path: h.name, Err: fs.ErrClosed}
	}
	h.n.synced = append(h.n.synced[:0], h.n.data...)
	return nil
}

func (h *file) Truncate(size int64) error {
	if err := h.fs.call(OpTruncate, h.name); err != nil {
		return err
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: errors.New("negative size")}
	}
	old := int64(len(h.n.data))
	if size <= old {
		h.n.data = h.n.data[:size]
	} else {
		h.n.data = append(h.n.data, make([]byte, size-old)...)
	}
	f.used += size - old
	return nil
}

func (h *file) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return 0, &fs.PathError{Op: "stat", Path: h.name, Err: fs.ErrClosed}
	}
	return int64(len(h.n.data)), nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}

// String describes the filesystem (files, sizes, unsynced bytes), for test failures.
func (f *FS) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	names := make([]string, 0, len(f.files))
	for name := range f.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := f.files[name]
		fmt.Fprintf(&b, "%s: %d bytes, %d synced, durable name %v\n", name, len(n.data), len(n.synced), f.durable[name] == n)
	}
	return b.String()
}
