package diskqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/queue"
)

// TestModel runs random sequences of Append, Sync, Next, Commit, Rewind,
// crash, reopen, failing writes and fsyncs and a full disk against two
// readers and checks every delivery against a model of what the queue
// promises:
//
//   - nothing is delivered that was not appended (by an Append that succeeded);
//   - each reader gets records in append order, never skipping one that was
//     synced (or that it saw exist after the crash that could have lost it);
//   - after a crash a reader resumes somewhere between its last position that
//     was surely on disk and its last commit: duplicates only for records not
//     committed and persisted, and never a record committed and persisted;
//   - records appended but not synced before a crash may vanish, but
//     consistently for both readers;
//   - an Append that failed delivers none of its records, and the queue
//     goes on working once the faults stop.
//
// DISKQUEUE_MODEL_SEEDS (default 12) and DISKQUEUE_MODEL_STEPS (default 400)
// make it run longer.
func TestModel(t *testing.T) {
	seeds := envInt(t, "DISKQUEUE_MODEL_SEEDS", 12)
	steps := envInt(t, "DISKQUEUE_MODEL_STEPS", 400)
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runModel(t, uint64(seed), steps)
		})
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

type mrec struct {
	payload string
	synced  bool // a Sync after its Append succeeded, or a clean Close
	maybe   bool // unsynced at a crash: it may be gone
	present bool // a maybe record some reader got after that crash
	lost    bool // a maybe record some reader found missing
}

type mreader struct {
	name      string
	r         queue.Reader
	next      int  // index the next delivery must be at or after
	pending   int  // end of the last batch
	committed int  // committed index
	persisted int  // index its position on disk is surely at or after
	fresh     bool // crashed since the last delivery: resumes in [persisted, committed]
}

type model struct {
	t       *testing.T
	recs    []*mrec
	index   map[string]int
	readers []*mreader
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fsys := faultfs.New()
	opts := diskqueue.Options{
		Dir:            "/q",
		MaxBytes:       int64(8<<10 + rng.IntN(256<<10)),
		SegmentBytes:   int64(256 + rng.IntN(4096)),
		SyncInterval:   []time.Duration{time.Millisecond, time.Hour}[rng.IntN(2)],
		CommitInterval: []time.Duration{time.Millisecond, time.Hour}[rng.IntN(2)],
		// Off, smaller than one Append, a few Appends, or the default: readers
		// mix records from memory and from the files.
		CacheBytes: []int64{-1, 64, 2 << 10, 0}[rng.IntN(4)],
		Logger:     slog.New(slog.DiscardHandler),
		FS:         fsys,
	}
	t.Logf("options: max %d, segment %d, sync every %s, commit every %s",
		opts.MaxBytes, opts.SegmentBytes, opts.SyncInterval, opts.CommitInterval)
	// While faulty, writes, fsyncs, renames and truncations fail (before
	// doing anything); while full, writes stop part-way with ENOSPC.
	var faulty atomic.Bool
	hook := func(op faultfs.Op, _ string) error {
		switch op {
		case faultfs.OpWrite, faultfs.OpSync, faultfs.OpSyncDir, faultfs.OpRename, faultfs.OpTruncate:
			if faulty.Load() {
				return faultfs.ErrInjected
			}
		}
		return nil
	}
	fsys.SetHook(hook)
	healthy := func() {
		faulty.Store(false)
		fsys.SetCapacity(0)
	}
	q, err := diskqueue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { q.Close() }()
	m := &model{t: t, index: map[string]int{}}
	for _, name := range []string{"alpha", "beta"} {
		m.readers = append(m.readers, &mreader{name: name})
	}
	attach := func() {
		for _, mr := range m.readers {
			if mr.r, err = q.Reader(mr.name); err != nil {
				t.Fatal(err)
			}
		}
	}
	attach()
	done, cancel := context.WithCancel(context.Background())
	cancel() // Next with a done context returns what is there without waiting
	ctx := context.Background()
	crashes, failedAppends, failedSyncs := 0, 0, 0

	for step := range steps {
		switch op := rng.IntN(100); {
		case op < 30: // Append a unit of 1 to 4 records
			unit := make([][]byte, 1+rng.IntN(4))
			for i := range unit {
				p := fmt.Sprintf("%d/%d/%d:%s", seed, step, i, strings.Repeat("x", rng.IntN(300)))
				unit[i] = []byte(p)
			}
			switch err := q.Append(ctx, unit); {
			case err == nil:
				for _, b := range unit {
					m.index[string(b)] = len(m.recs)
					m.recs = append(m.recs, &mrec{payload: string(b)})
				}
			case errors.Is(err, queue.ErrFull):
			case errors.Is(err, faultfs.ErrInjected) || errors.Is(err, syscall.ENOSPC):
				failedAppends++ // none of it may ever be delivered: it is not in the model
			default:
				t.Fatalf("step %d: append: %v", step, err)
			}
		case op < 38:
			err := q.Sync(ctx)
			if errors.Is(err, faultfs.ErrInjected) && faulty.Load() {
				failedSyncs++
				break
			}
			if err != nil {
				t.Fatalf("step %d: sync: %v", step, err)
			}
			for _, r := range m.recs {
				r.synced = true
			}
		case op < 40:
			if faulty.Load() || rng.IntN(2) == 0 {
				healthy()
			} else if rng.IntN(2) == 0 {
				faulty.Store(true)
			} else {
				fsys.SetCapacity(fsys.Used() + int64(rng.IntN(2000)))
			}
		case op < 68:
			mr := m.readers[rng.IntN(2)]
			got, err := mr.r.Next(done, 1+rng.IntN(10), 1+rng.IntN(2000))
			switch {
			case err == nil:
				m.delivered(mr, got)
			case errors.Is(err, context.Canceled):
				m.nothing(mr)
			default:
				t.Fatalf("step %d: next: %v", step, err)
			}
		case op < 88:
			mr := m.readers[rng.IntN(2)]
			if err := mr.r.Commit(); err != nil {
				t.Fatalf("step %d: commit: %v", step, err)
			}
			mr.committed = mr.pending
		case op < 94:
			mr := m.readers[rng.IntN(2)]
			mr.r.Rewind()
			if mr.fresh {
				mr.next = mr.persisted
			} else {
				mr.next = mr.committed
			}
			mr.pending = mr.committed
		case op < 98: // crash: only what the fake disk holds survives
			crashes++
			crashed := fsys.CrashClone(rng)
			q.Close() // the dead process's queue; its writes go to the old filesystem
			fsys, opts.FS = crashed, crashed
			fsys.SetHook(hook)
			healthy()
			if q, err = diskqueue.Open(opts); err != nil {
				t.Fatalf("step %d: reopen after crash: %v\n%s", step, err, fsys)
			}
			attach()
			for _, r := range m.recs {
				if !r.synced && !r.maybe {
					r.maybe = true
				}
			}
			for _, mr := range m.readers {
				mr.fresh = true
				mr.next, mr.pending = mr.persisted, mr.committed
			}
		default: // clean restart
			healthy()
			if err := q.Close(); err != nil {
				t.Fatalf("step %d: close: %v", step, err)
			}
			if q, err = diskqueue.Open(opts); err != nil {
				t.Fatalf("step %d: reopen: %v", step, err)
			}
			attach()
			for _, r := range m.recs {
				r.synced = true
			}
			for _, mr := range m.readers {
				if mr.fresh {
					// Nothing delivered since the crash: the position Close
					// wrote is the queue's own, somewhere in [persisted, committed].
					mr.next = mr.persisted
				} else {
					mr.persisted, mr.next = mr.committed, mr.committed
				}
				mr.pending = mr.committed
			}
		}
		if st := q.Stats(); st.Bytes < 0 || st.Records < 0 {
			t.Fatalf("step %d: stats %+v", step, st)
		}
	}

	// Drain: every record still due must come out, then ErrClosed.
	healthy()
	q.CloseWrite()
	for _, mr := range m.readers {
		for {
			got, err := mr.r.Next(done, 100, 1<<20)
			if errors.Is(err, queue.ErrClosed) {
				m.nothing(mr)
				// A batch delivered before the drain may still be uncommitted.
				if err := mr.r.Commit(); err != nil {
					t.Fatal(err)
				}
				break
			}
			if err != nil {
				t.Fatalf("drain %s: %v", mr.name, err)
			}
			m.delivered(mr, got)
			if err := mr.r.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := q.Stats(); st.Bytes != 0 {
		t.Errorf("after both readers committed everything: stats %+v, want 0 bytes\n%+v\n%s", st, q.DiskStats(), fsys)
	}
	waitFor(t, "consumed segments removed", func() bool { return q.DiskStats().Segments <= 1 })
	spares := 0
	for _, name := range fsys.Names() {
		if strings.HasSuffix(name, ".spare") {
			spares++
		}
	}
	if spares > 1 {
		t.Errorf("%d spare segment files kept, want at most 1\n%s", spares, fsys)
	}
	t.Logf("%d records, %d crashes, %d failed appends, %d failed syncs, %d corrupt regions",
		len(m.recs), crashes, failedAppends, failedSyncs, q.Corrupt())
}

// delivered checks a batch returned by Next.
func (m *model) delivered(mr *mreader, got [][]byte) {
	m.t.Helper()
	if len(got) == 0 {
		m.t.Fatalf("%s: Next returned no records and no error", mr.name)
	}
	for _, b := range got {
		idx, ok := m.index[string(b)]
		if !ok {
			m.t.Fatalf("%s: delivered a record that was never appended: %.40q", mr.name, b)
		}
		if idx < mr.next {
			m.t.Fatalf("%s: delivered record %d, but the next due is %d (duplicate or out of order)", mr.name, idx, mr.next)
		}
		for j := mr.next; j < idx; j++ {
			m.skip(mr, j)
		}
		rec := m.recs[idx]
		if rec.lost {
			m.t.Fatalf("%s: delivered record %d, which another read found missing", mr.name, idx)
		}
		if rec.maybe {
			rec.present = true
		}
		if mr.fresh {
			// The queue resumed at or before idx with nothing in between.
			mr.committed, mr.fresh = idx, false
		}
		mr.next = idx + 1
	}
	mr.pending = mr.next
}

// nothing checks that no record is due when Next found none.
func (m *model) nothing(mr *mreader) {
	m.t.Helper()
	for j := mr.next; j < len(m.recs); j++ {
		m.skip(mr, j)
	}
}

// skip checks that record j may be passed over by reader mr.
func (m *model) skip(mr *mreader, j int) {
	m.t.Helper()
	if mr.fresh && j < mr.committed {
		return // before where the reader resumed after the crash
	}
	rec := m.recs[j]
	if rec.maybe && !rec.present {
		rec.lost = true
		return
	}
	m.t.Fatalf("%s: record %d was skipped (synced %v, maybe %v, present %v; committed %d, persisted %d, fresh %v)",
		mr.name, j, rec.synced, rec.maybe, rec.present, mr.committed, mr.persisted, mr.fresh)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
