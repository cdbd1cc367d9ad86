package file

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
)

// gatedSink counts the records appended; each Sync waits for the test to
// open the gate once, and then covers what was appended before the call.
type gatedSink struct {
	mu       sync.Mutex
	appended int
	synced   int // records covered by the Syncs that returned
	gate     chan struct{}
}

func (s *gatedSink) Append(_ context.Context, recs [][]byte) error {
	s.mu.Lock()
	s.appended += len(recs)
	s.mu.Unlock()
	return nil
}

func (s *gatedSink) Sync(ctx context.Context) error {
	s.mu.Lock()
	target := s.appended
	s.mu.Unlock()
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.synced = max(s.synced, target)
	s.mu.Unlock()
	return nil
}

func (s *gatedSink) counts() (appended, synced int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended, s.synced
}

// TestReadingGoesOnWhileTheCheckpointWaitsForSync: while the queue's
// fsync of what was read is under way, new lines are still read and
// appended; the checkpoint on disk never covers a line before a Sync that
// covers it has returned.
func TestReadingGoesOnWhileTheCheckpointWaitsForSync(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	log := filepath.Join(dir, "app.log")
	const lineLen = 10 // "line-0001\n"
	write := func(from, to int) {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "line-%04d\n", i)
		}
		appendFile(t, log, b.String())
	}
	write(0, 100)
	c := defaultConfig()
	c.Include, c.StartAt, c.PollInterval = []string{log}, "beginning", 20*time.Millisecond
	c.Finish(component.Env{DataDir: data, Getenv: os.Getenv})
	in, err := Factory{}.New(c, component.Settings{Name: "files", Log: slog.New(slog.DiscardHandler), DataDir: data,
		MaxAppendBytes: 1 << 20, Metrics: new(component.Metrics)})
	if err != nil {
		t.Fatal(err)
	}
	sink := &gatedSink{gate: make(chan struct{})}
	if err := in.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(sink.gate) // every Sync from now on returns
		in.Shutdown(context.Background())
	}()
	// savedLines is what the checkpoint says is read, in lines; it must
	// never be more than the Syncs covered.
	savedLines := func() int {
		ck, _, err := loadCheckpoint(checkpointPath(c.CheckpointDir, "files"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range ck.Files {
			n += int(f.Offset / lineLen)
		}
		if _, synced := sink.counts(); n > synced {
			t.Fatalf("the checkpoint covers %d lines; Sync covered %d", n, synced)
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			savedLines()
			if time.Now().After(deadline) {
				a, s := sink.counts()
				b, _ := os.ReadFile(checkpointPath(c.CheckpointDir, "files"))
				t.Fatalf("waiting for %s: %d appended, %d synced, checkpoint %d lines: %s", what, a, s, savedLines(), b)
			}
		}
	}
	waitFor("the first lines", func() bool { a, _ := sink.counts(); return a == 100 })
	// The first Sync is held: lines written now are read and appended all
	// the same, and the checkpoint says nothing is read yet.
	write(100, 200)
	waitFor("the lines written during the Sync", func() bool { a, _ := sink.counts(); return a == 200 })
	if n := savedLines(); n != 0 {
		t.Fatalf("checkpoint at %d lines before any Sync returned", n)
	}
	// The first Sync returns: the checkpoint covers the first 100 lines,
	// and no more until the next Sync returns too.
	sink.gate <- struct{}{}
	waitFor("the first checkpoint", func() bool { return savedLines() == 100 })
	time.Sleep(100 * time.Millisecond) // several polls
	if n := savedLines(); n != 100 {
		t.Fatalf("checkpoint at %d lines with one Sync returned", n)
	}
	sink.gate <- struct{}{}
	waitFor("the second checkpoint", func() bool { return savedLines() == 200 })
}
