package diskqueue_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/queue"
)

// spareFiles lists the spare segment files in dir.
func spareFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.spare"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// withSpare opens a queue, appends two full segments of records ("old",
// then "mid"), reads them all back and waits until the first segment's file
// is kept as a spare. Segments hold 4 records of 100 bytes.
func withSpare(t *testing.T, opts diskqueue.Options) (*diskqueue.Queue, queue.Reader) {
	t.Helper()
	q := openQueue(t, opts)
	r := reader(t, q, "out")
	mustAppend(t, q, records("old", 4, 100)...) // segment 1, full
	mustAppend(t, q, records("mid", 4, 100)...) // segment 5, full
	equal(t, "first read", drain(t, r), strs(append(records("old", 4, 100), records("mid", 4, 100)...)))
	mustSync(t, q)
	waitFor(t, "segment 1 kept as a spare", func() bool { return diskqueue.SpareCount(q) == 1 })
	return q, r
}

// A drained segment's file is written over as a later segment (same inode),
// its old records are never delivered, it is cut to its records at Close,
// and at most one spare is kept.
func TestDrainedSegmentIsWrittenOver(t *testing.T) {
	dir := t.TempDir()
	opts := diskqueue.Options{Dir: dir, SegmentBytes: 4 * recSize, SyncInterval: time.Millisecond, Logger: quiet()}
	q, r := withSpare(t, opts)
	spare := spareFiles(t, dir)[0]
	ino := inode(t, spare)

	mustAppend(t, q, records("new", 1, 100)...) // segment 9, over segment 1's file
	seg9 := diskqueue.SegFile(dir, 9)
	if got := inode(t, seg9); got != ino {
		t.Fatalf("segment 9 is inode %d, want the spare's %d", got, ino)
	}
	if n := len(spareFiles(t, dir)); n != 0 {
		t.Errorf("%d spares left after one was reused", n)
	}
	if size := fileSize(t, seg9); size != 4*recSize {
		t.Errorf("reused segment holds %d bytes, want the old file's %d", size, 4*recSize)
	}
	equal(t, "reused segment", drain(t, r), strs(records("new", 1, 100)))

	// Many drained segments at once: one is kept, the rest removed.
	for i := range 5 {
		mustAppend(t, q, records(strings.Repeat("x", i+1), 4, 100)...)
	}
	if got := len(drain(t, r)); got != 20 {
		t.Fatalf("read %d records, want 20", got)
	}
	waitFor(t, "drained segments removed, one kept", func() bool {
		names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(names) == 1 && diskqueue.SpareCount(q) == 1
	})
	if n := len(spareFiles(t, dir)); n != 1 {
		t.Errorf("%d spares after draining 6 segments, want 1", n)
	}

	// The last segment, written over a spare, is cut to its records at Close.
	mustAppend(t, q, records("last", 1, 100)...)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	last := segs[len(segs)-1]
	if fileSize(t, last) == recSize {
		t.Fatalf("last segment %s holds only its record: not written over a spare", last)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if size := fileSize(t, last); size != recSize {
		t.Errorf("after Close the reused segment holds %d bytes, want its one record's %d", size, recSize)
	}

	// A restart removes the spare and resumes after what was committed.
	logs := &logBuffer{}
	opts.Logger = logs.logger()
	q2 := openQueue(t, opts)
	if n := len(spareFiles(t, dir)); n != 0 {
		t.Errorf("%d spares after a restart, want 0", n)
	}
	equal(t, "after restart", drain(t, reader(t, q2, "out")), strs(records("last", 1, 100)))
	if strings.Contains(logs.String(), "cut off") {
		t.Errorf("a clean restart cut something off: %s", logs)
	}
}

// After a crash, a segment written over a spare still holds the old
// segment's records past the new ones: they are cut off quietly, neither
// delivered nor counted as damage.
func TestCrashInReusedSegment(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, SegmentBytes: 4 * recSize, SyncInterval: time.Hour,
		CommitInterval: time.Nanosecond, Logger: quiet()}
	q, _ := withSpare(t, opts)
	mustAppend(t, q, records("new", 2, 100)...) // over old-0 and old-1; old-2 and old-3 follow
	mustSync(t, q)

	logs := &logBuffer{}
	opts.FS, opts.Logger = fsys.CrashClone(nil), logs.logger()
	q2 := openQueue(t, opts)
	got := drain(t, reader(t, q2, "out"))
	if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "old") }) {
		t.Errorf("old records delivered after the crash: %.60q", got)
	}
	if want := strs(records("new", 2, 100)); len(got) < 2 || !slices.Equal(got[len(got)-2:], want) {
		t.Errorf("after the crash: %.60q, want it to end with %q", got, want)
	}
	if n := q2.Corrupt(); n != 0 {
		t.Errorf("Corrupt() = %d, want 0: old records are not damage", n)
	}
	if !strings.Contains(logs.String(), "old records of a reused segment") || strings.Contains(logs.String(), "torn") {
		t.Errorf("recovery log: %s", logs)
	}
	if data, err := opts.FS.(*faultfs.FS).ReadFile("/q/00000000000000000009.seg"); err != nil || len(data) != 2*recSize {
		t.Errorf("reused segment after recovery: %d bytes (%v), want %d", len(data), err, 2*recSize)
	}
}

// A queue without Appends for SpareIdle gives its spare file back, and the
// next segment is then a new file.
func TestIdleQueueDropsItsSpare(t *testing.T) {
	dir := t.TempDir()
	opts := diskqueue.Options{Dir: dir, SegmentBytes: 4 * recSize, SyncInterval: time.Millisecond, SpareIdle: time.Second, Logger: quiet()}
	q, r := withSpare(t, opts)
	if len(spareFiles(t, dir)) != 1 {
		t.Fatalf("spare files %v, want one", spareFiles(t, dir))
	}
	waitFor(t, "the idle queue's spare removed", func() bool {
		return diskqueue.SpareCount(q) == 0 && len(spareFiles(t, dir)) == 0
	})
	mustAppend(t, q, records("new", 4, 100)...) // segment 9 starts as a new file
	equal(t, "after the idle time", drain(t, r), strs(records("new", 4, 100)))
}
