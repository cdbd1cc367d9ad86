package diskqueue_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/queue"
)

// TestStateIsWrittenWithItsPosition: an output's state is written in the
// same position file as the position it was committed with, only after the
// output's durable call succeeded; a crash finds the two together, and the
// records after that position are still there even when the reader had
// committed past their segments in memory.
func TestStateIsWrittenWithItsPosition(t *testing.T) {
	fsys := faultfs.New()
	opts := diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), SyncInterval: time.Millisecond,
		CommitInterval: time.Millisecond, SegmentBytes: 2 * (diskqueue.HeaderSize + 10)}
	q := openQueue(t, opts)
	all := records("r", 6, 10)
	for _, rec := range all { // three segments of two records
		mustAppend(t, q, rec)
	}
	mustSync(t, q)
	r := reader(t, q, "out").(queue.StateReader)
	if st := r.State(); st != nil {
		t.Fatalf("a new reader has state %q", st)
	}
	posFile := diskqueue.PosFile("/q", "out")
	onDisk := func() []byte { b, _ := fsys.ReadFile(posFile); return b }

	// A durable call that succeeds: the position and state follow it.
	var calls atomic.Int64
	if _, err := tryNext(r, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	err := r.CommitState([]byte("two"), func() error {
		if bytes.Contains(onDisk(), []byte("two")) {
			t.Error("the position was written before the output's durable call")
		}
		calls.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the state written", func() bool { return bytes.Contains(onDisk(), []byte("two")) })
	if calls.Load() == 0 {
		t.Fatal("the durable call was not made")
	}

	// A durable call that fails: the position stays where it was on disk,
	// and so do the segments after it, although the reader is past them.
	var failed atomic.Int64
	if _, err := tryNext(r, 4, 1<<20); err != nil {
		t.Fatal(err)
	}
	err = r.CommitState([]byte("six"), func() error { failed.Add(1); return errors.New("disk gone") })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the durable call tried twice", func() bool { return failed.Load() >= 2 })
	if got := r.State(); string(got) != "six" {
		t.Errorf("State() = %q in memory, want the last committed %q", got, "six")
	}

	crashed := fsys.CrashClone(nil)
	opts.FS = crashed
	q2 := openQueue(t, opts)
	r2 := reader(t, q2, "out").(queue.StateReader)
	if got := r2.State(); string(got) != "two" {
		t.Errorf("after the crash State() = %q, want %q", got, "two")
	}
	equal(t, "after the crash", drain(t, r2), strs(all[2:]))

	// A plain Commit drops the state; the position is written without one.
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}
	opts.FS = crashed.CrashClone(nil)
	q3 := openQueue(t, opts)
	if st := reader(t, q3, "out").(queue.StateReader).State(); st != nil {
		t.Errorf("after a plain Commit State() = %q, want none", st)
	}
}

func TestStateTooLarge(t *testing.T) {
	q := openQueue(t, diskqueue.Options{Dir: t.TempDir()})
	mustAppend(t, q, records("r", 1, 10)...)
	r := reader(t, q, "out").(queue.StateReader)
	if _, err := tryNext(r, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := r.CommitState(make([]byte, queue.MaxStateBytes+1), nil); err == nil {
		t.Fatal("a state over MaxStateBytes was accepted")
	}
}

// TestCommitStateDurable: the position and state are on disk when
// CommitStateDurable returns, long before CommitInterval, and only after the
// output's durable call; a durable call that fails is reported, and the
// position on disk stays where it was.
func TestCommitStateDurable(t *testing.T) {
	fsys := faultfs.New()
	q := openQueue(t, diskqueue.Options{Dir: "/q", FS: fsys, Logger: quiet(), CommitInterval: time.Hour})
	mustAppend(t, q, records("r", 4, 10)...)
	mustSync(t, q)
	r := reader(t, q, "out").(queue.StateReader)
	posFile := diskqueue.PosFile("/q", "out")
	onDisk := func() []byte { b, _ := fsys.ReadFile(posFile); return b }
	ctx := context.Background()

	var called bool
	err := r.CommitStateDurable(ctx, []byte("start"), func() error {
		called = !bytes.Contains(onDisk(), []byte("start"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("the durable call was not made before the state was written")
	}
	if !bytes.Contains(onDisk(), []byte("start")) {
		t.Fatal("the state is not on disk when CommitStateDurable returns")
	}

	if _, err := tryNext(r, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	err = r.CommitStateDurable(ctx, []byte("two"), func() error { return errors.New("disk gone") })
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("CommitStateDurable with a failing durable call returned %v", err)
	}
	if b := onDisk(); bytes.Contains(b, []byte("two")) || !bytes.Contains(b, []byte("start")) {
		t.Errorf("after the failure the position file holds %q, want the state %q", b, "start")
	}
}
