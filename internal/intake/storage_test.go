package intake_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/intake"
)

// syncWriter is a log destination tests can read while the server writes.
type syncWriter struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncWriter() *syncWriter { return &syncWriter{mu: make(chan struct{}, 1)} }
func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.buf.Write(p)
}
func (w *syncWriter) String() string {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.buf.String()
}

// On a full disk every message is answered with the true cause, nothing of
// it is kept, the connection stays usable, the condition is logged once
// when it starts and once when it clears, counted, and reported for
// readiness; once there is room again, entries are accepted without a
// restart.
func TestFullDiskAnswersTrulyAndRecovers(t *testing.T) {
	fsys := faultfs.New()
	q, err := diskqueue.Open(diskqueue.Options{Dir: "/q", FS: fsys, MaxBytes: 64 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	logs := newSyncWriter()
	srv, path := startServer(t, intake.Options{Log: slog.New(slog.NewTextHandler(logs, nil))}, q)

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(c)
	answer := func() string {
		t.Helper()
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no answer (the connection was closed?): %v", err)
		}
		return line
	}
	batch := func(n int) string {
		return `{"version":"1.0","entries":[` + strings.TrimSuffix(strings.Repeat(validEntry+",", n), ",") + "]}"
	}

	fmt.Fprintln(c, validEntry)
	fmt.Fprintln(c, `{"action":"flush"}`)
	if a := answer(); !strings.Contains(a, `"accepted":1`) {
		t.Fatalf("before the disk fills: %s", a)
	}
	fsys.SetCapacity(fsys.Used()) // the disk is full from now on

	// A batch large enough to go to the appender goroutine, then a single
	// entry: both are answered, and the connection answers a ping after.
	fmt.Fprintln(c, batch(100))
	fmt.Fprintln(c, validEntry)
	fmt.Fprintln(c, `{"action":"ping"}`)
	for i, want := range []string{"no space left on device in /q", "no space left on device in /q", "pong"} {
		if a := answer(); !strings.Contains(a, want) || strings.Contains(a, "shutting down") {
			t.Fatalf("answer %d: %s; want %q", i, a, want)
		} else if i < 2 && !strings.Contains(a, `"code":"queue_full"`) {
			t.Fatalf("answer %d has not the code clients retry: %s", i, a)
		}
	}
	if p := srv.StorageProblem(); !strings.Contains(p, "no space left on device") {
		t.Fatalf("StorageProblem while the disk is full: %q", p)
	}
	if got := srv.Counters.StorageRefused.Load(); got != 101 {
		t.Fatalf("StorageRefused = %d, want 101", got)
	}
	if got := srv.Counters.StorageFailures.Load(); got != 1 {
		t.Fatalf("StorageFailures = %d, want 1", got)
	}

	fsys.SetCapacity(0) // room again
	fmt.Fprintln(c, batch(100))
	fmt.Fprintln(c, `{"action":"flush"}`)
	if a := answer(); !strings.Contains(a, `"accepted":101,"rejected":101`) {
		t.Fatalf("after room came back: %s", a)
	}
	if p := srv.StorageProblem(); p != "" {
		t.Fatalf("StorageProblem after recovery: %q", p)
	}
	l := logs.String()
	if strings.Count(l, "cannot store entries") != 1 || strings.Count(l, "stores entries again") != 1 {
		t.Fatalf("want one line when it starts and one when it clears:\n%s", l)
	}
	if st := q.Stats(); st.Records != 101 {
		t.Fatalf("queue holds %d records, want 101 (nothing of a refused message kept)", st.Records)
	}
	_ = context.Background
}
