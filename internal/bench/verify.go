package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// follower counts the lines appended to a file while a run goes on, like
// `tail -F | wc -l`: it keeps the file open, so that a rotation (the file
// renamed away and a new one created at the path) loses nothing as long as
// the renamed file is not rotated away again within one poll.
type follower struct {
	path string
	poll time.Duration

	lines    atomic.Int64 // new lines seen since the start
	mu       sync.Mutex
	lastSeen time.Time // when lines last grew
	reached  time.Time // when lines first reached target
	target   atomic.Int64
	err      error

	f    *os.File
	ino  uint64
	buf  []byte
	done chan struct{}
}

// newFollower opens path if it exists and skips what it already holds.
func newFollower(path string) (*follower, error) {
	fl := &follower{path: path, poll: 5 * time.Millisecond, buf: make([]byte, 1<<20), done: make(chan struct{})}
	fl.target.Store(-1)
	if err := fl.open(); err != nil {
		return nil, err
	}
	if fl.f != nil {
		// Existing lines are not this run's: read past them uncounted.
		if _, err := fl.read(); err != nil {
			fl.f.Close()
			return nil, err
		}
		fl.lines.Store(0)
	}
	return fl, nil
}

// open opens the file at path, or leaves f nil when there is none yet.
func (fl *follower) open() error {
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	fl.f, fl.ino = f, inode(st)
	return nil
}

func inode(st fs.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// read counts the lines from the current offset to the end of f.
func (fl *follower) read() (int64, error) {
	var n int64
	for {
		k, err := fl.f.Read(fl.buf)
		n += int64(bytes.Count(fl.buf[:k], []byte{'\n'}))
		if err == io.EOF || (err == nil && k == 0) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	fl.lines.Add(n)
	return n, nil
}

// step reads what is new, and follows the path to a new file after a
// rotation or starts again after a truncation.
func (fl *follower) step() error {
	if fl.f == nil {
		if err := fl.open(); err != nil || fl.f == nil {
			return err
		}
	}
	if _, err := fl.read(); err != nil {
		return err
	}
	st, err := os.Stat(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // rotated, the new file not created yet
	}
	if err != nil {
		return err
	}
	if ino := inode(st); ino != fl.ino {
		if _, err := fl.read(); err != nil { // the rest of the rotated file
			return err
		}
		fl.f.Close()
		fl.f = nil
		return fl.step()
	}
	if off, err := fl.f.Seek(0, io.SeekCurrent); err == nil && st.Size() < off {
		fl.f.Seek(0, io.SeekStart) // truncated in place
	}
	return nil
}

// run polls until ctx ends or the target is reached.
func (fl *follower) run(ctx context.Context) {
	defer close(fl.done)
	defer func() {
		if fl.f != nil {
			fl.f.Close()
		}
	}()
	t := time.NewTicker(fl.poll)
	defer t.Stop()
	prev := int64(0)
	for {
		err := fl.step()
		now := time.Now()
		n := fl.lines.Load()
		fl.mu.Lock()
		if n != prev {
			fl.lastSeen, prev = now, n
		}
		if tg := fl.target.Load(); tg >= 0 && n >= tg && fl.reached.IsZero() {
			fl.reached = now
		}
		fl.err = err
		reached := !fl.reached.IsZero()
		fl.mu.Unlock()
		if reached || err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setTarget tells the follower how many lines to wait for.
func (fl *follower) setTarget(n int64) { fl.target.Store(n) }

// state returns the lines seen, when the last one was seen, when the target
// was reached (zero if not), and the error that stopped the follower.
func (fl *follower) state() (lines int64, lastSeen, reached time.Time, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.lines.Load(), fl.lastSeen, fl.reached, fl.err
}

// ErrStalled is WaitLines' error when lines stopped arriving before the
// number waited for.
var ErrStalled = errors.New("no new line within the idle time")

// WaitLines waits until n lines were appended to path after the call (the
// file may not exist yet; rotations and truncations are followed as in a
// run's verification) and returns when the n-th was first seen. With idle >
// 0 it gives up once lines stopped growing for that long after the first
// one, returning when the last line was seen and ErrStalled (for senders
// that may lose messages, like UDP). It returns ctx's error, with the lines
// seen so far, when ctx ends first.
func WaitLines(ctx context.Context, path string, n int64, idle time.Duration) (at time.Time, seen int64, err error) {
	fl, err := newFollower(path)
	if err != nil {
		return time.Time{}, 0, err
	}
	fl.setTarget(n)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stalled := false
	if idle > 0 {
		go func() {
			t := time.NewTicker(idle / 10)
			defer t.Stop()
			for {
				select {
				case <-rctx.Done():
					return
				case <-t.C:
				}
				lines, last, _, _ := fl.state()
				if lines > 0 && time.Since(last) > idle {
					fl.mu.Lock()
					stalled = true
					fl.mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	fl.run(rctx)
	cancel()
	seen, last, reached, err := fl.state()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	switch {
	case err != nil:
		return time.Time{}, seen, err
	case !reached.IsZero():
		return reached, seen, nil
	case stalled:
		return last, seen, ErrStalled
	default:
		return time.Time{}, seen, ctx.Err()
	}
}
