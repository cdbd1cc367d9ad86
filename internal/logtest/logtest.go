// Package logtest is a log destination that a test reads while the code under test writes to it from other goroutines.
package logtest

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer collects what is written to it; it is safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// New returns a buffer and a text logger that writes to it.
func New() (*Buffer, *slog.Logger) {
	b := new(Buffer)
	return b, slog.New(slog.NewTextHandler(b, nil))
}

func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns everything written so far.
func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
