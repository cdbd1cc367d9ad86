package diskqueue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/queue"
)

func TestAppendNextCommit(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, diskqueue.Options{Dir: dir})
	r := reader(t, q, "out")

	unit := records("a", 5, 10)
	mustAppend(t, q, unit...)
	// The queue keeps its own copy: the caller may reuse its buffers.
	unit[0][0] = 'X'
	mustAppend(t, q, []byte{}, []byte("last"))

	got, err := tryNext(r, 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "maxRecords 2", strs(got), []string{"a-0.......", "a-1......."})
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err = tryNext(r, 100, 15)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "maxBytes 15", strs(got), []string{"a-2......."})
	r.Rewind()
	got, err = tryNext(r, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "after rewind", strs(got), []string{"a-2.......", "a-3.......", "a-4.......", "", "last"})
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := tryNext(r, 1, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("next on an empty queue with a done context: %v, want context.Canceled", err)
	}

	// A record bigger than maxBytes still comes out, alone.
	mustAppend(t, q, []byte(strings.Repeat("b", 100)), []byte("c"))
	got, err = tryNext(r, 10, 10)
	if err != nil || len(got) != 1 || len(got[0]) != 100 {
		t.Fatalf("oversized record: %d records, %v", len(got), err)
	}
}

func TestNextWaitsForAppend(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir()})
	r := reader(t, q, "out")

	ctx := withTimeout(t, 20*time.Millisecond)
	if _, err := r.Next(ctx, 1, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("next with nothing to read: %v, want deadline exceeded", err)
	}

	got := make(chan []string, 1)
	go func() {
		recs, err := r.Next(withTimeout(t, 10*time.Second), 10, 1<<20)
		if err != nil {
			t.Error(err)
		}
		got <- strs(recs)
	}()
	time.Sleep(10 * time.Millisecond) // let it wait
	mustAppend(t, q, []byte("wake"))
	equal(t, "woken by append", <-got, []string{"wake"})
}

func TestCloseWriteDrains(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir()})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 3, 1)...)

	blocked := reader(t, q, "idle")
	drain(t, blocked)
	done := make(chan error, 1)
	go func() {
		_, err := blocked.Next(withTimeout(t, 10*time.Second), 1, 1)
		done <- err
	}()

	q.CloseWrite()
	if err := q.Append(context.Background(), records("late", 1, 1)); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("append after CloseWrite: %v, want ErrClosed", err)
	}
	equal(t, "drain after CloseWrite", drain(t, r), []string{"a-0", "a-1", "a-2"})
	if _, err := r.Next(context.Background(), 1, 1); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("next after drain: %v, want ErrClosed", err)
	}
	if err := <-done; !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("waiting reader after CloseWrite: %v, want ErrClosed", err)
	}
}

// appendAndClose writes units (each a list of 100-byte records) to a fresh
// queue in dir and closes it; all land in segment 1.
func appendAndClose(t *testing.T, dir string, units ...[][]byte) {
	t.Helper()
	q, err := diskqueue.Open(diskqueue.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	reader(t, q, "a")
	reader(t, q, "b")
	for _, u := range units {
		mustAppend(t, q, u...)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

const recSize = diskqueue.HeaderSize + 100 // on disk, for 100-byte records

func TestTornTailIsCutOff(t *testing.T) {
	unitA, unitB := records("a", 3, 100), records("b", 3, 100)
	for _, tc := range []struct {
		name   string
		damage func(seg []byte) []byte
		want   []string // records left
	}{
		{"partial header", func(seg []byte) []byte { return append(seg, seg[:10]...) }, strs(append(unitA, unitB...))},
		{"partial payload", func(seg []byte) []byte { return append(seg, seg[:recSize-20]...) }, strs(append(unitA, unitB...))},
		{"zeros", func(seg []byte) []byte { return append(seg, make([]byte, 4096)...) }, strs(append(unitA, unitB...))},
		{"checksum mismatch in last record", func(seg []byte) []byte { seg[len(seg)-1] ^= 1; return seg }, strs(unitA)},
		{"last record of an append missing", func(seg []byte) []byte { return seg[:5*recSize] }, strs(unitA)},
		{"cut inside an append", func(seg []byte) []byte { return seg[:4*recSize+50] }, strs(unitA)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			appendAndClose(t, dir, unitA, unitB)
			path := diskqueue.SegFile(dir, 1)
			seg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(seg), 0o644); err != nil {
				t.Fatal(err)
			}

			logs := &logBuffer{}
			q := openQueue(t, diskqueue.Options{Dir: dir, Logger: logs.logger()})
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(tc.want)*recSize) {
				t.Errorf("segment after recovery: %v bytes (%v), want %d", fi.Size(), err, len(tc.want)*recSize)
			}
			if !strings.Contains(logs.String(), "torn tail") {
				t.Errorf("recovery not logged: %s", logs)
			}
			if n := q.Corrupt(); n != 0 {
				t.Errorf("Corrupt() = %d after a torn tail, want 0", n)
			}
			mustAppend(t, q, []byte("after"))
			want := append(slices.Clone(tc.want), "after")
			equal(t, "reader a", drain(t, reader(t, q, "a")), want)
			equal(t, "reader b", drain(t, reader(t, q, "b")), want)
		})
	}
}

func TestCorruptionInTheMiddleIsSkippedAndCounted(t *testing.T) {
	var units [][][]byte
	var all []string
	for i := range 10 {
		u := records(fmt.Sprintf("r%d", i), 1, 100)
		units = append(units, u)
		all = append(all, string(u[0]))
	}
	without := func(i int) []string { return slices.Delete(slices.Clone(all), i, i+1) }
	for _, tc := range []struct {
		name      string
		offset    int // of the damaged byte in segment 1
		atOpen    int64
		segBytes  int64
		wantFirst []string
	}{
		{"payload byte in last segment", 4*recSize + diskqueue.HeaderSize + 7, 1, 0, without(4)},
		{"magic in last segment", 4 * recSize, 1, 0, without(4)},
		{"length field in last segment", 4*recSize + 9, 1, 0, without(4)},
		{"payload byte in an earlier segment", 1*recSize + diskqueue.HeaderSize + 7, 0, 3 * recSize, without(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := diskqueue.Open(diskqueue.Options{Dir: dir, SegmentBytes: tc.segBytes, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range units {
				mustAppend(t, q, u...)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			path := diskqueue.SegFile(dir, 1)
			seg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			seg[tc.offset] ^= 0x40
			if err := os.WriteFile(path, seg, 0o644); err != nil {
				t.Fatal(err)
			}

			q = openQueue(t, diskqueue.Options{Dir: dir, SegmentBytes: tc.segBytes})
			if n := q.Corrupt(); n != tc.atOpen {
				t.Errorf("Corrupt() after open = %d, want %d", n, tc.atOpen)
			}
			a, b := reader(t, q, "a"), reader(t, q, "b")
			equal(t, "first reader", drain(t, a), tc.wantFirst)
			equal(t, "second reader", drain(t, b), tc.wantFirst)
			if n := q.Corrupt(); n != 1 {
				t.Errorf("Corrupt() after both readers = %d, want 1 (counted once)", n)
			}
		})
	}
}

func segments(fsys *faultfs.FS) []string {
	var segs []string
	for _, n := range fsys.Names() {
		if strings.HasSuffix(n, ".seg") {
			segs = append(segs, n)
		}
	}
	return segs
}

func TestSegmentRemovedOnlyWhenEveryReaderIsPast(t *testing.T) {
	fsys := faultfs.New()
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, SegmentBytes: 2 * recSize, SyncInterval: time.Millisecond})
	fast, slow := reader(t, q, "fast"), reader(t, q, "slow")
	for i := range 6 {
		mustAppend(t, q, records(fmt.Sprint(i), 1, 100)...)
	}
	if n := len(segments(fsys)); n != 3 {
		t.Fatalf("%d segments for 6 records at 2 a segment, want 3", n)
	}
	if got := drain(t, fast); len(got) != 6 {
		t.Fatalf("fast reader got %d records", len(got))
	}
	time.Sleep(20 * time.Millisecond) // many syncer rounds
	if n := len(segments(fsys)); n != 3 {
		t.Fatalf("%d segments after only one reader committed, want 3: %v", n, segments(fsys))
	}
	got, err := tryNext(slow, 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("slow reader got %d records", len(got))
	}
	waitFor(t, "first segment removed", func() bool { return len(segments(fsys)) == 2 })
	drain(t, slow)
	waitFor(t, "all but the last segment removed", func() bool { return len(segments(fsys)) == 1 })
	if st := q.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Errorf("stats after everything is committed: %+v", st)
	}
}

func TestByteCapReject(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir(), MaxBytes: 4 * recSize, Policy: queue.Reject})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 3, 100)...)
	if err := q.Append(context.Background(), records("b", 2, 100)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("append over the cap: %v, want ErrFull", err)
	}
	mustAppend(t, q, records("c", 1, 100)...) // exactly fits
	if st := q.Stats(); st.Bytes != 4*recSize || st.Records != 4 || st.MaxBytes != 4*recSize {
		t.Fatalf("stats at the cap: %+v", st)
	}
	got, err := tryNext(r, 2, 1<<20)
	if err != nil || len(got) != 2 {
		t.Fatalf("next: %d, %v", len(got), err)
	}
	if err := q.Append(context.Background(), records("d", 1, 100)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("records read but not committed still count: %v, want ErrFull", err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, q, records("d", 2, 100)...)
	r.Rewind()
	want := strs(slices.Concat(records("a", 3, 100)[2:], records("c", 1, 100), records("d", 2, 100)))
	equal(t, "nothing of the refused unit", drain(t, r), want)

	// A unit larger than the whole cap still goes into an empty queue.
	mustAppend(t, q, records("huge", 10, 100)...)
}

func TestByteCapBlock(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir(), MaxBytes: 2 * recSize, Policy: queue.Block})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 2, 100)...)

	if err := q.Append(withTimeout(t, 20*time.Millisecond), records("b", 1, 100)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked append whose context ends: %v, want deadline exceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(withTimeout(t, 10*time.Second), records("b", 1, 100)) }()
	select {
	case err := <-done:
		t.Fatalf("append returned %v while the queue was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := tryNext(r, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("append after room was freed: %v", err)
	}

	go func() { done <- q.Append(context.Background(), records("c", 1, 100)) }()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	if err := <-done; !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("blocked append at Close: %v, want ErrClosed", err)
	}
}

func TestRestartResumesEachReader(t *testing.T) {
	dir := t.TempDir()
	all := records("r", 10, 20)
	q, err := diskqueue.Open(diskqueue.Options{Dir: dir, Logger: quiet(), SegmentBytes: 3 * (diskqueue.HeaderSize + 20)})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range all {
		mustAppend(t, q, rec)
	}
	for name, n := range map[string]int{"a": 4, "b": 7} {
		r := reader(t, q, name)
		got, err := tryNext(r, n, 1<<20)
		if err != nil || len(got) != n {
			t.Fatalf("%s: %d, %v", name, len(got), err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := tryNext(r, 1, 1<<20); err != nil { // read, not committed
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	q = openQueue(t, diskqueue.Options{Dir: dir})
	c := reader(t, q, "c")
	equal(t, "a after restart", drain(t, reader(t, q, "a")), strs(all[4:]))
	equal(t, "b after restart", drain(t, reader(t, q, "b")), strs(all[7:]))
	// Both readers were past the first segment (records 0-2): it is gone.
	equal(t, "new reader starts at the oldest record kept", drain(t, c), strs(all[3:]))
}

func TestPositionFileFallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte // nil: remove the file
		log     string
	}{
		{"garbage", []byte("not a position file at all, 32 b"), "position unreadable"},
		{"truncated", []byte("LQP"), "position unreadable"},
		{"missing", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			all := records("r", 6, 10)
			q, err := diskqueue.Open(diskqueue.Options{Dir: dir, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, q, all...)
			keep, lose := reader(t, q, "keep"), reader(t, q, "lose")
			for _, r := range []queue.Reader{keep, lose} {
				if _, err := tryNext(r, 4, 1<<20); err != nil {
					t.Fatal(err)
				}
				if err := r.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			path := diskqueue.PosFile(dir, "lose")
			if tc.content == nil {
				err = os.Remove(path)
			} else {
				err = os.WriteFile(path, tc.content, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}

			logs := &logBuffer{}
			q = openQueue(t, diskqueue.Options{Dir: dir, Logger: logs.logger()})
			equal(t, "intact reader", drain(t, reader(t, q, "keep")), strs(all[4:]))
			equal(t, "reader without its position", drain(t, reader(t, q, "lose")), strs(all))
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log does not mention %q:\n%s", tc.log, logs)
			}
		})
	}
}

func TestPositionPastTheEndResumesAtTheEnd(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: time.Hour}
	q, err := diskqueue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := reader(t, q, "out")
	mustAppend(t, q, records("durable", 2, 10)...)
	mustSync(t, q)
	mustAppend(t, q, records("lost", 2, 10)...)
	drain(t, r)
	crashed := fsys.CrashClone(nil)
	// Give the crashed state the position committed past the unsynced
	// records, as a disk that reorders writes might.
	q.Close()
	pos, err := fsys.ReadFile(diskqueue.PosFile("/q", "out"))
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.WriteFile(diskqueue.PosFile("/q", "out"), pos); err != nil {
		t.Fatal(err)
	}
	opts.FS = crashed
	q = openQueue(t, opts)
	mustAppend(t, q, records("new", 2, 10)...)
	equal(t, "after the crash", drain(t, reader(t, q, "out")), []string{"new-0.....", "new-1....."})
}

func TestCrashKeepsSyncedRecords(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: time.Hour}
	q, err := diskqueue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reader(t, q, "out")
	mustAppend(t, q, records("synced", 3, 10)...)
	mustSync(t, q)
	mustAppend(t, q, records("unsynced", 3, 10)...)

	opts.FS = fsys.CrashClone(nil)
	q2 := openQueue(t, opts)
	equal(t, "after crash", drain(t, reader(t, q2, "out")), strs(records("synced", 3, 10)))
}

func TestSyncSharesFsyncs(t *testing.T) {
	fsys := faultfs.New()
	// A slow disk: each fsync takes 5 ms.
	fsys.SetHook(func(op faultfs.Op, _ string) error {
		if op == faultfs.OpSync {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: time.Hour}
	q, err := diskqueue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reader(t, q, "out")

	const clients, flushes = 50, 4
	before := fsys.Count(faultfs.OpSync)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range flushes {
				if err := q.Append(context.Background(), [][]byte{fmt.Appendf(nil, "c%d-%d", c, i)}); err != nil {
					t.Error(err)
					return
				}
				if err := q.Sync(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fsyncs := fsys.Count(faultfs.OpSync) - before
	t.Logf("%d Sync calls took %d fsyncs", clients*flushes, fsyncs)
	if fsyncs > clients*flushes/4 {
		t.Errorf("%d Sync calls took %d fsyncs; concurrent callers should share them", clients*flushes, fsyncs)
	}

	// Every Sync returned only once its record was durable.
	opts.FS = fsys.CrashClone(nil)
	fsys.SetHook(nil)
	q2 := openQueue(t, opts)
	if got := drain(t, reader(t, q2, "out")); len(got) != clients*flushes {
		t.Errorf("%d records survived a crash after every Sync returned, want %d", len(got), clients*flushes)
	}
}

func TestSyncFailureIsReported(t *testing.T) {
	fsys := faultfs.New()
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, SyncInterval: time.Hour})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 1, 10)...)

	var failing atomic.Bool
	fsys.SetHook(func(op faultfs.Op, _ string) error {
		if op == faultfs.OpSync && failing.Load() {
			return faultfs.ErrInjected
		}
		return nil
	})
	failing.Store(true)
	if err := q.Sync(context.Background()); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("sync while fsync fails: %v, want the injected error", err)
	}
	if err := q.Sync(context.Background()); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("second sync while fsync fails: %v, want the injected error (tried again, failed again)", err)
	}
	failing.Store(false)
	mustSync(t, q)
	mustAppend(t, q, records("b", 1, 10)...)
	mustSync(t, q)
	equal(t, "records after fsync recovered", drain(t, r), []string{"a-0.......", "b-0......."})
}

func TestDiskFull(t *testing.T) {
	fsys := faultfs.New()
	// No background rounds: position files would take space too.
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, SyncInterval: time.Hour, CommitInterval: time.Hour})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 2, 100)...)
	fsys.SetCapacity(fsys.Used() + recSize + 10) // room for one more record and a bit

	err := q.Append(context.Background(), records("b", 2, 100))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	mustAppend(t, q, records("c", 1, 100)...) // the partial write was undone: this fits
	if err := q.Append(context.Background(), records("d", 1, 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	mustSync(t, q)
	fsys.SetCapacity(0)
	mustAppend(t, q, records("e", 1, 100)...)
	want := strs(slices.Concat(records("a", 2, 100), records("c", 1, 100), records("e", 1, 100)))
	equal(t, "records around the failures", drain(t, r), want)
}

func TestWriteFailureThenCrash(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: time.Hour}
	q := openQueue(t, opts)
	reader(t, q, "out")
	mustAppend(t, q, records("a", 1, 10)...)
	fsys.SetHook(func(op faultfs.Op, _ string) error {
		if op == faultfs.OpWrite {
			return faultfs.ErrInjected
		}
		return nil
	})
	if err := q.Append(context.Background(), records("b", 1, 10)); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("append with failing writes: %v", err)
	}
	fsys.SetHook(nil)
	mustAppend(t, q, records("c", 1, 10)...)
	mustSync(t, q)
	opts.FS = fsys.CrashClone(nil)
	q2 := openQueue(t, opts)
	equal(t, "after crash", drain(t, reader(t, q2, "out")), []string{"a-0.......", "c-0......."})
}

func TestBackgroundSyncWithoutSyncCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faultfs.New()
		opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: 100 * time.Millisecond}
		q := openQueue(t, opts)
		reader(t, q, "out")
		mustAppend(t, q, records("a", 1, 10)...)
		synctest.Wait()
		before := fsys.CrashClone(nil)
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		after := fsys.CrashClone(nil)

		for _, tc := range []struct {
			name string
			fs   *faultfs.FS
			want int
		}{{"before the sync interval", before, 0}, {"after the sync interval", after, 1}} {
			opts.FS = tc.fs
			q2, err := diskqueue.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(t, reader(t, q2, "out")); len(got) != tc.want {
				t.Errorf("crash %s: %d records survive, want %d", tc.name, len(got), tc.want)
			}
			q2.Close()
		}
	})
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := openQueue(t, diskqueue.Options{Dir: "/q", FS: faultfs.New(), MaxBytes: 1 << 20})
		a, b := reader(t, q, "a"), reader(t, q, "b")
		mustAppend(t, q, records("r", 4, 100)...)
		time.Sleep(3 * time.Second)
		mustAppend(t, q, records("s", 2, 100)...)

		if _, err := tryNext(a, 4, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := tryNext(b, 1, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		st := q.DiskStats()
		if st.Records != 5 || st.Bytes != 5*recSize || st.MaxBytes != 1<<20 {
			t.Errorf("stats %+v, want 5 records of %d bytes, cap 1 MiB", st.Stats, recSize)
		}
		if st.DiskBytes != 6*recSize || st.Segments != 1 {
			t.Errorf("disk: %d bytes in %d segments, want %d in 1", st.DiskBytes, st.Segments, 6*recSize)
		}
		if st.OldestAge != 3*time.Second {
			t.Errorf("oldest age %s, want 3s", st.OldestAge)
		}
		want := []diskqueue.ReaderStats{{Name: "a", Records: 2, Bytes: 2 * recSize}, {Name: "b", Records: 5, Bytes: 5 * recSize}}
		if !slices.Equal(st.Readers, want) {
			t.Errorf("readers %+v, want %+v", st.Readers, want)
		}
	})
}

func TestDropReader(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, MaxBytes: 2 * recSize}
	q := openQueue(t, opts)
	live, gone := reader(t, q, "live"), reader(t, q, "gone")
	mustAppend(t, q, records("a", 2, 100)...)
	drain(t, live)
	if err := q.Append(context.Background(), records("b", 1, 100)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("append while a reader holds everything: %v, want ErrFull", err)
	}
	if err := q.DropReader("gone"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, q, records("b", 1, 100)...)
	if _, err := tryNext(gone, 1, 1); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("next on a dropped reader: %v, want ErrClosed", err)
	}
	if _, err := fsys.ReadFile(diskqueue.PosFile("/q", "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("position file of a dropped reader: %v, want it gone", err)
	}
}

func TestReaderNames(t *testing.T) {
	dir := t.TempDir()
	q, err := diskqueue.Open(diskqueue.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a/b c", "..", "%41", "http:out", "ünïcode"}
	mustAppend(t, q, records("r", 3, 10)...)
	for _, name := range names {
		r := reader(t, q, name)
		if _, err := tryNext(r, 1, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 65)} {
		if _, err := q.Reader(bad); err == nil {
			t.Errorf("reader name %q accepted", bad)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, diskqueue.Options{Dir: dir})
	for _, name := range names {
		equal(t, name, drain(t, reader(t, q, name)), []string{"r-1.......", "r-2......."})
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.ContainsAny(e.Name(), " /:") || e.Name() == ".." {
			t.Errorf("unsafe file name %q", e.Name())
		}
	}
}

func TestUnitLargerThanSegment(t *testing.T) {
	fsys := faultfs.New()
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, SegmentBytes: 2 * recSize})
	r := reader(t, q, "out")
	mustAppend(t, q, records("small", 1, 100)...)
	mustAppend(t, q, records("big", 5, 100)...)
	mustAppend(t, q, records("small2", 1, 100)...)
	if n := len(segments(fsys)); n != 3 {
		t.Errorf("%d segments, want 3 (the big unit alone in one)", n)
	}
	want := strs(slices.Concat(records("small", 1, 100), records("big", 5, 100), records("small2", 1, 100)))
	equal(t, "all records", drain(t, r), want)
}

func TestAfterClose(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir()})
	r := reader(t, q, "out")
	mustAppend(t, q, records("a", 1, 1)...)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := q.Append(context.Background(), records("b", 1, 1)); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("append after close: %v", err)
	}
	if _, err := q.Reader("other"); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("reader after close: %v", err)
	}
	if _, err := r.Next(context.Background(), 1, 1); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("next after close: %v", err)
	}
	if err := q.Sync(context.Background()); err != nil {
		t.Errorf("sync after a clean close: %v", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	_, err := diskqueue.Open(diskqueue.Options{MaxBytes: -1, Policy: "drop", SegmentBytes: 3})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"dir is required", "max bytes", "policy", "segment bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// FuzzRecover opens a queue whose only segment holds arbitrary bytes: Open
// must succeed and reading must end, whatever the damage.
func FuzzRecover(f *testing.F) {
	seed := faultfs.New()
	q, err := diskqueue.Open(diskqueue.Options{Dir: "/q", FS: seed, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	mustAppend(f, q, records("a", 3, 20)...)
	mustAppend(f, q, records("b", 1, 0)...)
	q.Close()
	good, err := seed.ReadFile(diskqueue.SegFile("/q", 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(slices.Clone(good[40:]), good...))
	f.Add([]byte{})
	f.Add([]byte("\xffLQ\x01garbage"))
	f.Fuzz(func(t *testing.T, seg []byte) {
		fsys := faultfs.New()
		if err := fsys.MkdirAll("/q", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(diskqueue.SegFile("/q", 1), seg); err != nil {
			t.Fatal(err)
		}
		q, err := diskqueue.Open(diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet()})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer q.Close()
		got := drain(t, reader(t, q, "out"))
		mustAppend(t, q, []byte("after"))
		if more := drain(t, reader(t, q, "out")); len(more) != 1 || more[0] != "after" {
			t.Fatalf("after recovering %d records: read %q, want the new record", len(got), more)
		}
	})
}

// A reader that keeps up with the writer takes its records from the tail
// cache, without reading the segment files; one that falls behind reads the
// files. Records handed out stay intact until the next Next or Commit, even
// while new Appends push their bytes out of the cache.
func TestTailCache(t *testing.T) {
	fsys := faultfs.New()
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, CacheBytes: 16 << 10, SegmentBytes: 1 << 20})
	r := reader(t, q, "out")
	ctx := context.Background()

	first := records("a", 20, 200)
	mustAppend(t, q, first[:10]...)
	mustAppend(t, q, first[10:]...)
	reads := fsys.Count(faultfs.OpRead)
	got, err := r.Next(ctx, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.Count(faultfs.OpRead) - reads; n != 0 {
		t.Errorf("reader kept up with the writer but read the files %d times", n)
	}
	if len(got) != 20 {
		t.Fatalf("got %d records, want 20", len(got))
	}
	held := make([][]byte, len(got))
	copy(held, got)

	// Push everything out of the cache while the records are held.
	later := records("b", 400, 200)
	for i := 0; i < len(later); i += 10 {
		mustAppend(t, q, later[i:i+10]...)
	}
	for i, rec := range held {
		if !bytes.Equal(rec, first[i]) {
			t.Fatalf("held record %d changed to %q while later appends were cached", i, rec)
		}
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}

	// The oldest of the later records are no longer cached: they come from
	// the files, the newest from memory, all in order.
	reads = fsys.Count(faultfs.OpRead)
	var all [][]byte
	for len(all) < len(later) {
		recs, err := r.Next(ctx, 37, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			all = append(all, bytes.Clone(rec))
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if fsys.Count(faultfs.OpRead) == reads {
		t.Errorf("a reader 90 KiB behind a 16 KiB cache read no file")
	}
	for i := range later {
		if !bytes.Equal(all[i], later[i]) {
			t.Fatalf("record %d is %q, want %q", i, all[i], later[i])
		}
	}
}
