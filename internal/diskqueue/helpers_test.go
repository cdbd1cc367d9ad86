package diskqueue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/queue"
)

// quiet is a logger that drops everything.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects log output for tests that check what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// openQueue opens a queue and closes it when the test ends.
func openQueue(t testing.TB, opts diskqueue.Options) *diskqueue.Queue {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	q, err := diskqueue.Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func reader(t testing.TB, q *diskqueue.Queue, name string) queue.Reader {
	t.Helper()
	r, err := q.Reader(name)
	if err != nil {
		t.Fatalf("reader %s: %v", name, err)
	}
	return r
}

// records returns n records "<prefix>-<i>" padded to at least size bytes.
func records(prefix string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := fmt.Appendf(nil, "%s-%d", prefix, i)
		for len(b) < size {
			b = append(b, '.')
		}
		out[i] = b
	}
	return out
}

func mustAppend(t testing.TB, q *diskqueue.Queue, recs ...[]byte) {
	t.Helper()
	if err := q.Append(context.Background(), recs); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func mustSync(t testing.TB, q *diskqueue.Queue) {
	t.Helper()
	if err := q.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// tryNext returns the records available now without waiting for more.
func tryNext(r queue.Reader, maxRecords, maxBytes int) ([][]byte, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return r.Next(ctx, maxRecords, maxBytes)
}

// drain reads and commits everything available now and returns it as strings.
func drain(t testing.TB, r queue.Reader) []string {
	t.Helper()
	var out []string
	for {
		got, err := tryNext(r, 7, 1<<20)
		if errors.Is(err, context.Canceled) || errors.Is(err, queue.ErrClosed) {
			return out
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		for _, b := range got {
			out = append(out, string(b))
		}
		if err := r.Commit(); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
}

func strs(recs [][]byte) []string {
	out := make([]string, len(recs))
	for i, b := range recs {
		out[i] = string(b)
	}
	return out
}

func equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d\n got: %.200q\nwant: %.200q", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d is %.60q, want %.60q", what, i, got[i], want[i])
		}
	}
}

// withTimeout returns a context that ends after d.
func withTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
