package output_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/queue"
)

// TestDispatcherResumesTheOutput: the dispatcher commits the file output's
// state with each position, and a new output on the same reader (a reload)
// goes back to it: what the old one wrote past the committed position is
// cut, and the queue's delivery is not doubled.
func TestDispatcherResumesTheOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entries.ndjson")
	q := queue.NewMemory(1<<20, queue.Reject)
	r, err := q.Reader("file")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deliver := func(recs ...string) {
		t.Helper()
		out, err := file.New(file.Options{Name: "file", Path: path, MaxSize: 1 << 20, MaxFiles: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range recs {
			if err := q.Append(ctx, [][]byte{[]byte(s)}); err != nil {
				t.Fatal(err)
			}
		}
		runCtx, cancel := context.WithCancel(ctx)
		d := &output.Dispatcher{Out: out, Reader: r, MaxRecords: 1}
		done := make(chan error, 1)
		go func() { done <- d.Run(runCtx) }()
		deadline := time.Now().Add(10 * time.Second)
		for d.Counters.Sent.Load() < int64(len(recs)) {
			select {
			case err := <-done:
				t.Fatalf("dispatcher stopped: %v", err)
			case <-time.After(time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d entries delivered in 10 s", d.Counters.Sent.Load(), len(recs))
			}
		}
		cancel()
		<-done
		if err := out.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deliver(`{"n":1}`, `{"n":2}`)
	if st := r.(queue.StateReader).State(); st == nil {
		t.Fatal("no state committed with the position")
	}
	// The old output wrote a line whose position was never committed.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"n":"not committed"}` + "\n")
	f.Close()
	deliver(`{"n":3}`)
	if b, _ := os.ReadFile(path); string(b) != "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n" {
		t.Fatalf("file holds %q", b)
	}
}
