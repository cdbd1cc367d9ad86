package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/diskqueue/faultfs"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/record"
)

// syncHeld is the disk queue as the input's sink with its Sync held until
// the context ends: the durable checkpoint stays where it was first
// written, as when the committer's fsync lags seconds behind the reader on
// a loaded machine (issue 17). Everything else is the real queue.
type syncHeld struct{ *diskqueue.Queue }

func (s syncHeld) Sync(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// crashRig is a file input over a disk queue in temp dirs.
type crashRig struct {
	t                *testing.T
	logs, data, qdir string
	log              string // the file followed
}

func newCrashRig(t *testing.T) *crashRig {
	r := &crashRig{t: t, logs: t.TempDir(), data: t.TempDir(), qdir: filepath.Join(t.TempDir(), "queue")}
	r.log = filepath.Join(r.logs, "app.log")
	return r
}

// checkpoint is the input's durable checkpoint file.
func (r *crashRig) checkpoint() string {
	return checkpointPath(filepath.Join(r.data, "inputs"), "files")
}

func (r *crashRig) openQueue(fsys diskqueue.FS) *diskqueue.Queue {
	r.t.Helper()
	// No background fsync: what is durable is what Sync made so.
	q, err := diskqueue.Open(diskqueue.Options{Dir: r.qdir, MaxBytes: 64 << 20, SyncInterval: time.Hour, FS: fsys})
	if err != nil {
		r.t.Fatal(err)
	}
	return q
}

func (r *crashRig) startInput(sink input.Sink) *Input {
	r.t.Helper()
	c := defaultConfig()
	c.Include = []string{filepath.Join(r.logs, "*.log")}
	c.StartAt = "beginning"
	c.PollInterval = 20 * time.Millisecond
	c.Finish(component.Env{DataDir: r.data, Getenv: os.Getenv})
	in, err := Factory{}.New(c, component.Settings{Name: "files", DataDir: r.data, MaxAppendBytes: 64 << 10})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := in.Start(context.Background(), sink); err != nil {
		r.t.Fatal(err)
	}
	return in.(*Input)
}

// kill stops in as a kill -9 would leave it: nothing more is appended or
// checkpointed (the held Sync never returns, so no durable checkpoint is
// written on the way out).
func kill(t *testing.T, in *Input) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Shutdown(ctx); err == nil {
		t.Log("shutdown finished before its context was looked at")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// payloadCounts reads every record q holds from its oldest and counts
// each payload, until the record with payload last is read.
func payloadCounts(t *testing.T, q *diskqueue.Queue, last string) map[string]int {
	t.Helper()
	rd, err := q.Reader("check")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for counts[last] == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		recs, err := rd.Next(ctx, 10000, 8<<20)
		cancel()
		if err != nil {
			t.Fatalf("reading the queue (waiting for %q): %v", last, err)
		}
		for _, rec := range recs {
			e, err := record.Parse(rec)
			if err != nil {
				counts["<another input's>"]++ // appended by the test itself
				continue
			}
			counts[string(e.Payload)]++
		}
	}
	return counts
}

func numbered(i int) string { return fmt.Sprintf("line %06d %s", i, strings.Repeat("x", 80)) }

// appendAll writes n lines and starts the input with the queue's Sync held
// (the durable checkpoint says offset 0); it returns once every line is
// appended and the provisional checkpoint of the last append is written.
func (r *crashRig) appendAll(q *diskqueue.Queue, n int) *Input {
	t := r.t
	var b strings.Builder
	for i := range n {
		b.WriteString(numbered(i))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(r.log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	in := r.startInput(syncHeld{q})
	waitFor(t, "every line appended and its provisional checkpoint", func() bool {
		whole, _ := loadProvisional(r.checkpoint())
		if len(whole) == 0 {
			return false
		}
		p := whole[0]
		return p.tag == uint64(n) && len(p.Files) == 1 && p.Files[0].Offset == int64(b.Len())
	})
	return in
}

// crashAfterAppends is appendAll, then a kill of the input.
func (r *crashRig) crashAfterAppends(q *diskqueue.Queue, n int) {
	t := r.t
	kill(t, r.appendAll(q, n))
	ck, found, err := loadCheckpoint(r.checkpoint())
	if err != nil || !found || len(ck.Files) != 1 || ck.Files[0].Offset != 0 {
		t.Fatalf("the durable checkpoint should still say offset 0 (no Sync returned): %+v %v %v", ck, found, err)
	}
}

// restartAndCount starts the input again over q, appends a last line and
// returns how often each line is in q once that one is there.
func (r *crashRig) restartAndCount(q *diskqueue.Queue) map[string]int {
	in := r.startInput(q)
	defer in.Shutdown(context.Background())
	appendFile(r.t, r.log, "the end\n")
	return payloadCounts(r.t, q, "the end")
}

// TestKill9AfterAppendsRepeatsNoLine: the queue keeps, across a kill -9,
// records appended but not yet synced (the page cache has them); the
// input, restarted, reads on after them instead of from its older durable
// checkpoint: every line once.
func TestKill9AfterAppendsRepeatsNoLine(t *testing.T) {
	const n = 5000
	r := newCrashRig(t)
	q := r.openQueue(nil)
	r.crashAfterAppends(q, n)
	// What a kill -9 leaves: every record written is in the files. (Close
	// only adds fsyncs, which the page cache makes no matter here.)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := r.openQueue(nil)
	defer q2.Close()
	if q2.RecoveredSeq() != n {
		t.Fatalf("the queue recovered up to seq %d, want %d", q2.RecoveredSeq(), n)
	}
	counts := r.restartAndCount(q2)
	for i := range n {
		if c := counts[numbered(i)]; c != 1 {
			t.Fatalf("line %d is in the queue %d times (want once)", i, c)
		}
	}
	if len(counts) != n+1 {
		t.Fatalf("%d distinct lines in the queue, want %d", len(counts), n+1)
	}
	if _, exist := loadProvisional(r.checkpoint()); !exist {
		t.Error("the restarted input writes provisional checkpoints again")
	}
}

// TestPowerLossFallsBackToTheDurableCheckpoint: a power loss took the
// queue's unsynced records but left the provisional checkpoint; the input
// sees that the queue lacks records up to its tag and reads again from the
// durable checkpoint: no line lost.
func TestPowerLossFallsBackToTheDurableCheckpoint(t *testing.T) {
	const n = 3000
	fsys := faultfs.New()
	r := newCrashRig(t)
	q := r.openQueue(fsys)
	r.crashAfterAppends(q, n)
	after := fsys.CrashClone(nil) // only what was fsynced: no record
	q.Close()
	q2 := r.openQueue(after)
	defer q2.Close()
	if q2.RecoveredSeq() >= n {
		t.Fatalf("the power loss should have taken records; the queue recovered up to %d", q2.RecoveredSeq())
	}
	counts := r.restartAndCount(q2)
	for i := range n {
		if counts[numbered(i)] == 0 {
			t.Fatalf("line %d lost", i)
		}
	}
}

// plain is a sink that does not number its records (the memory queue).
type plain struct{ input.Sink }

// seqs is a sink that numbers its records, for the choice at start.
type seqs struct {
	input.Sink
	recovered uint64
}

func (s seqs) AppendNumbered(context.Context, [][]byte, func(uint64)) error { return nil }
func (s seqs) RecoveredSeq() uint64                                         { return s.recovered }

// TestResumeChoosesTheNewerCheckpointTheQueueCovers: the provisional
// checkpoint is used only when it is whole, newer than the durable one and
// covered by the queue's recovered records; then it becomes the durable
// one. Its files are removed in every case.
func TestResumeChoosesTheNewerCheckpointTheQueueCovers(t *testing.T) {
	file := func(off int64) []fileOffsets {
		return []fileOffsets{{Path: "/l/app.log", Dev: 1, Ino: 2, FPLen: 64, FP: "ab", Offset: off, Seed: "cd"}}
	}
	setup := func(t *testing.T, durableGen uint64, provGens ...uint64) string {
		ckpt := checkpointPath(t.TempDir(), "files")
		if _, err := saveCheckpoint(ckpt, file(100), durableGen, nil); err != nil {
			t.Fatal(err)
		}
		var p provisional
		p.paths = provisionalPaths(ckpt)
		for _, g := range provGens {
			p.prepare(file(int64(1000 * g)))
			if err := p.write(g, 10*g, p.slot); err != nil {
				t.Fatal(err)
			}
		}
		p.close()
		return ckpt
	}
	for _, c := range []struct {
		name       string
		durableGen uint64
		provGens   []uint64
		sink       input.Sink
		want       int64
		wantGen    uint64
	}{
		{"provisional newer and covered", 5, []uint64{6, 7}, seqs{recovered: 70}, 7000, 7},
		{"the newest not covered: the one before", 5, []uint64{6, 7}, seqs{recovered: 69}, 6000, 6},
		{"neither covered: durable", 5, []uint64{6, 7}, seqs{recovered: 59}, 100, 5},
		{"the older one not newer than the durable one", 6, []uint64{6, 7}, seqs{recovered: 69}, 100, 6},
		{"durable newer", 8, []uint64{6, 7}, seqs{recovered: 1000}, 100, 8},
		{"queue without numbers", 5, []uint64{6}, plain{}, 100, 5},
		{"none", 5, nil, seqs{recovered: 1000}, 100, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			ckpt := setup(t, c.durableGen, c.provGens...)
			cf, found, how, err := resumeFrom(ckpt, c.sink)
			if err != nil || !found || len(cf.Files) != 1 || cf.Files[0].Offset != c.want || cf.Gen != c.wantGen {
				t.Fatalf("resumed from %+v (%s), found %v, err %v; want offset %d gen %d", cf, how, found, err, c.want, c.wantGen)
			}
			again, _, err := loadCheckpoint(ckpt)
			if err != nil || again.Files[0].Offset != c.want || again.Gen != c.wantGen {
				t.Errorf("durable checkpoint now %+v, %v; want offset %d gen %d", again, err, c.want, c.wantGen)
			}
			if _, exist := loadProvisional(ckpt); exist {
				t.Error("provisional files left after the start")
			}
		})
	}
}

// TestTornProvisionalIsIgnored: a write cut short (or any damage) fails the
// checksum, and the other file, written before, is used.
func TestTornProvisionalIsIgnored(t *testing.T) {
	ckpt := checkpointPath(t.TempDir(), "files")
	var p provisional
	p.paths = provisionalPaths(ckpt)
	for g := uint64(1); g <= 2; g++ {
		p.prepare([]fileOffsets{{Path: "/l/a.log", Offset: int64(g)}})
		if err := p.write(g, g, p.slot); err != nil {
			t.Fatal(err)
		}
	}
	p.close()
	whole, _ := loadProvisional(ckpt)
	if len(whole) != 2 || whole[0].Gen != 2 || whole[0].Files[0].Offset != 2 || whole[1].Gen != 1 {
		t.Fatalf("whole, newest first: %+v", whole)
	}
	newest := p.paths[1] // the second written
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(data) - 1, len(data) / 2, 5} {
		if err := os.WriteFile(newest, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _ := loadProvisional(ckpt); len(got) != 1 || got[0].Gen != 1 || got[0].Files[0].Offset != 1 {
			t.Fatalf("cut at %d: whole %+v, want gen 1 alone", cut, got)
		}
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 1
	if err := os.WriteFile(newest, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadProvisional(ckpt); len(got) != 1 || got[0].Gen != 1 {
		t.Fatalf("a flipped bit: whole %+v, want gen 1 alone", got)
	}
}

// TestFailedAppendTakesBackItsProvisionalCheckpoint: an append that fails
// after its provisional checkpoint was written leaves its numbers to later
// records; once another input's records took them, that checkpoint would
// claim lines the queue never got. It is written over, so none is lost.
func TestFailedAppendTakesBackItsProvisionalCheckpoint(t *testing.T) {
	const n, more = 1000, 300
	fsys := faultfs.New()
	r := newCrashRig(t)
	q := r.openQueue(fsys)
	in := r.appendAll(q, n)
	var failed atomic.Int64
	fsys.SetHook(func(op faultfs.Op, name string) error {
		if op == faultfs.OpWrite && strings.HasSuffix(name, ".seg") {
			failed.Add(1)
			return faultfs.ErrInjected
		}
		return nil
	})
	var b strings.Builder
	for i := n; i < n+more; i++ {
		b.WriteString(numbered(i) + "\n")
	}
	appendFile(t, r.log, b.String())
	// The second try begins after the first one's end.
	waitFor(t, "two appends to fail", func() bool { return failed.Load() >= 2 })
	kill(t, in)
	fsys.SetHook(nil)
	// Another input's records take the numbers the failed append had.
	other := make([][]byte, more)
	for i := range other {
		other[i] = []byte("not an entry")
	}
	if err := q.Append(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q2 := r.openQueue(fsys)
	defer q2.Close()
	counts := r.restartAndCount(q2)
	for i := range n + more {
		if c := counts[numbered(i)]; c != 1 {
			t.Fatalf("line %d is in the queue %d times (want once)", i, c)
		}
	}
}
