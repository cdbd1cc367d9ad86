package diskqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
)

// AppendNumbered tells the last seq before writing; RecoveredSeq is what a restart found: all
// records after a kill (here a Close, which leaves the same files), only
// the synced ones after a power loss.
func TestAppendNumberedAndRecoveredSeq(t *testing.T) {
	fsys := faultfs.New()
	open := func(fs *faultfs.FS) *diskqueue.Queue {
		q, err := diskqueue.Open(diskqueue.Options{Dir: "/q", FS: fs, SyncInterval: time.Hour, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := open(fsys)
	if q.RecoveredSeq() != 0 {
		t.Fatalf("empty queue: recovered %d", q.RecoveredSeq())
	}
	ctx := context.Background()
	for _, n := range []int{3, 2} {
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = []byte(`{"x":1}`)
		}
		var last uint64
		if err := q.AppendNumbered(ctx, recs, func(l uint64) { last = l }); err != nil {
			t.Fatal(err)
		}
		if want := map[int]uint64{3: 3, 2: 5}[n]; last != want {
			t.Fatalf("append of %d: last seq %d, want %d", n, last, want)
		}
		if n == 3 {
			if err := q.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if q.RecoveredSeq() != 0 {
		t.Fatalf("after 5 records: recovered %d", q.RecoveredSeq())
	}
	lost := fsys.CrashClone(nil) // the power fails: the 2 records not synced are gone
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(fsys)
	if q.RecoveredSeq() != 5 {
		t.Errorf("reopened: recovered %d, want 5", q.RecoveredSeq())
	}
	q.Close()
	q = open(lost)
	defer q.Close()
	if q.RecoveredSeq() != 3 {
		t.Errorf("after the power loss: recovered %d, want 3", q.RecoveredSeq())
	}
}
