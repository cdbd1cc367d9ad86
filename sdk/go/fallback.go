package logflux

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// fallback receives the entries the agent could not take. Each entry is one
// line, the Agent API's single-entry message (an entry object without a
// version, which means "1.0"), so the file can be replayed as it is:
//
//	logflux-agent send --file /tmp/logflux-fallback.ndjson
//
// A line is written whole or not at all, and the file never grows past its
// cap: entries that do not fit are dropped and counted. After each write the
// file is synced. If the file is removed or replaced (say, after a replay),
// the next write opens it again.
type fallback struct {
	mode Fallback
	path string
	max  int64
	out  io.Writer // FallbackStderr

	mu   sync.Mutex // guards below
	f    *os.File
	size int64
	buf  []byte
}

func newFallback(cfg *Config) *fallback {
	if cfg.Fallback == FallbackNone {
		return nil
	}
	return &fallback{mode: cfg.Fallback, path: cfg.FallbackPath, max: cfg.FallbackMaxBytes, out: cfg.stderr}
}

// write writes c's entries. It returns how many were written and, for the
// rest, the drop reason.
func (fb *fallback) write(c *chunk) (written int, reason int, err error) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.mode == FallbackStderr {
		fb.buf = fb.lines(fb.buf[:0], c, -1)
		if _, err := fb.out.Write(fb.buf); err != nil {
			return 0, dropFallbackError, fmt.Errorf("logflux: fallback to stderr: %w", err)
		}
		return c.len(), 0, nil
	}
	if err := fb.open(); err != nil {
		return 0, dropFallbackError, err
	}
	fb.buf = fb.lines(fb.buf[:0], c, fb.max-fb.size)
	n, err := fb.f.Write(fb.buf)
	fb.size += int64(n)
	if err == nil {
		err = fb.f.Sync()
	}
	if err != nil {
		if n > 0 && fb.buf[n-1] != '\n' {
			fb.f.Write([]byte{'\n'}) // end the torn line so later lines stay readable
		}
		fb.f.Close()
		fb.f = nil
		return countLines(fb.buf[:n]), dropFallbackError, fmt.Errorf("logflux: fallback file: %w", err)
	}
	return countLines(fb.buf), dropFallbackFull, nil
}

// lines appends c's entries, one per line, as long as they fit in room
// bytes (room < 0: no limit).
func (fb *fallback) lines(b []byte, c *chunk, room int64) []byte {
	for i := range c.len() {
		e := c.entry(i)
		if room >= 0 && int64(len(b)+len(e)+1) > room {
			continue
		}
		b = append(b, e...)
		b = append(b, '\n')
	}
	return b
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// open opens the file unless the open one is still the file at path.
func (fb *fallback) open() error {
	if fb.f != nil {
		a, err1 := fb.f.Stat()
		b, err2 := os.Stat(fb.path)
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			fb.size = a.Size()
			return nil
		}
		fb.f.Close()
		fb.f = nil
	}
	f, err := os.OpenFile(fb.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("logflux: fallback file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logflux: fallback file: %w", err)
	}
	fb.f, fb.size = f, fi.Size()
	return nil
}

func (fb *fallback) close() error {
	if fb == nil {
		return nil
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.f == nil {
		return nil
	}
	err := fb.f.Close()
	fb.f = nil
	return err
}
