// Package stdout is the output that writes entries as NDJSON to standard output.
package stdout

import (
	"bufio"
	"context"
	"io"
	"os"
	"sync"

	"github.com/logflux/agent/internal/output"
)

// Output writes one normalised entry per line to a writer, standard output by default.
type Output struct {
	name string
	mu   sync.Mutex
	w    *bufio.Writer
}

var _ output.Output = (*Output)(nil)

// New returns an output writing to w (os.Stdout when nil).
func New(name string, w io.Writer) *Output {
	if w == nil {
		w = os.Stdout
	}
	if name == "" {
		name = "stdout"
	}
	return &Output{name: name, w: bufio.NewWriterSize(w, 64<<10)}
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Write writes the records, one per line.
func (o *Output) Write(_ context.Context, records [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range records {
		o.w.Write(r)
		o.w.WriteByte('\n')
	}
	return o.w.Flush()
}

// Close flushes what is buffered.
func (o *Output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Flush()
}
