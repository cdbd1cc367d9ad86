package output_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/file"
)

// TestFirstStartIsExact: an agent killed right after its first start,
// after the file output wrote entries but before the disk queue wrote a
// position with the output's state, writes each entry once after the
// restart. The positions are written only every hour here, so the only
// state on disk is the one recorded when the output started.
func TestFirstStartIsExact(t *testing.T) {
	const n = 50
	live, crashed := t.TempDir(), t.TempDir()
	ctx := context.Background()
	opts := func(dir string) diskqueue.Options {
		return diskqueue.Options{Dir: filepath.Join(dir, "queue"), CommitInterval: time.Hour,
			Logger: slog.New(slog.DiscardHandler)}
	}
	q, err := diskqueue.Open(opts(live))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range n {
		if err := q.Append(ctx, [][]byte{fmt.Appendf(nil, `{"n":%d}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "entries.ndjson")
	deliverAll(t, q, path, n)()

	// kill -9: the queue's files as they are now (its Close would write
	// the positions), the output's file as the output left it.
	copyDir(t, filepath.Join(live, "queue"), filepath.Join(crashed, "queue"))
	q2, err := diskqueue.Open(opts(crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	deliverAll(t, q2, path, n)()
	var want bytes.Buffer
	for i := range n {
		fmt.Fprintf(&want, "{\"n\":%d}\n", i)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("after the restart the file holds %d lines, want %d once each:\n%s", bytes.Count(got, []byte("\n")), n, got)
	}
}

// deliverAll runs a dispatcher from q's reader "file" into a file output at
// path until it has delivered n entries, and returns what stops it.
func deliverAll(t *testing.T, q *diskqueue.Queue, path string, n int64) (stop func()) {
	t.Helper()
	r, err := q.Reader("file")
	if err != nil {
		t.Fatal(err)
	}
	out, err := file.New(file.Options{Name: "file", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &output.Dispatcher{Out: out, Reader: r, MaxRecords: 7}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for d.Counters.Sent.Load() < n {
		select {
		case err := <-done:
			t.Fatalf("dispatcher stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d entries delivered in 10 s", d.Counters.Sent.Load(), n)
		}
	}
	return func() {
		cancel()
		<-done
		if err := out.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// copyDir copies the files under from to to.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}
