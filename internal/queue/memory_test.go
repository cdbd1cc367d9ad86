package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func recs(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func TestMemoryFanOutAndFree(t *testing.T) {
	q := NewMemory(1<<20, Reject)
	a, _ := q.Reader("a")
	b, _ := q.Reader("b")
	ctx := context.Background()
	if err := q.Append(ctx, recs("x", 3)); err != nil {
		t.Fatal(err)
	}
	got, err := a.Next(ctx, 10, 1<<20)
	if err != nil || len(got) != 3 || string(got[2]) != "x2" {
		t.Fatalf("a: %q %v", got, err)
	}
	a.Commit()
	if st := q.Stats(); st.Records != 3 {
		t.Fatalf("records freed before b read them: %+v", st)
	}
	got, _ = b.Next(ctx, 2, 1<<20)
	if len(got) != 2 {
		t.Fatalf("b got %d, want 2 (maxRecords)", len(got))
	}
	b.Rewind()
	got, _ = b.Next(ctx, 10, 1<<20)
	if len(got) != 3 || string(got[0]) != "x0" {
		t.Fatalf("after rewind b got %q", got)
	}
	b.Commit()
	if st := q.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Fatalf("not freed: %+v", st)
	}
}

func TestMemoryRejectWhenFull(t *testing.T) {
	q := NewMemory(10, Reject)
	q.Reader("a")
	ctx := context.Background()
	if err := q.Append(ctx, [][]byte{[]byte("123456")}); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(ctx, [][]byte{[]byte("12"), []byte("345")}); !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	if st := q.Stats(); st.Records != 1 {
		t.Fatalf("a refused unit was partly kept: %+v", st)
	}
}

func TestMemoryBlockWaitsForRoom(t *testing.T) {
	q := NewMemory(10, Block)
	r, _ := q.Reader("a")
	ctx := context.Background()
	q.Append(ctx, [][]byte{[]byte("123456")})
	done := make(chan error, 1)
	go func() { done <- q.Append(ctx, [][]byte{[]byte("789012")}) }()
	select {
	case err := <-done:
		t.Fatalf("append did not block: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r.Next(ctx, 1, 100)
	r.Commit()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.Append(cctx, [][]byte{[]byte("too much")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked append ignores its context: %v", err)
	}
}

func TestMemoryCloseWriteDrains(t *testing.T) {
	q := NewMemory(1<<20, Reject)
	r, _ := q.Reader("a")
	ctx := context.Background()
	q.Append(ctx, recs("y", 2))
	q.CloseWrite()
	if err := q.Append(ctx, recs("z", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after CloseWrite: %v", err)
	}
	got, err := r.Next(ctx, 10, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("drain: %q %v", got, err)
	}
	r.Commit()
	if _, err := r.Next(ctx, 10, 100); !errors.Is(err, ErrClosed) {
		t.Fatalf("after drain: %v, want ErrClosed", err)
	}
}

func TestMemoryNextWaits(t *testing.T) {
	q := NewMemory(1<<20, Reject)
	r, _ := q.Reader("a")
	got := make(chan int, 1)
	go func() {
		recs, _ := r.Next(context.Background(), 10, 100)
		got <- len(recs)
	}()
	time.Sleep(10 * time.Millisecond)
	q.Append(context.Background(), recs("w", 1))
	if n := <-got; n != 1 {
		t.Fatalf("got %d", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	r.Commit()
	if _, err := r.Next(ctx, 10, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on empty queue: %v", err)
	}
}

func TestMemoryCopiesRecords(t *testing.T) {
	q := NewMemory(1<<20, Reject)
	r, _ := q.Reader("a")
	buf := []byte("original")
	q.Append(context.Background(), [][]byte{buf})
	copy(buf, "CHANGED!")
	got, _ := r.Next(context.Background(), 1, 100)
	if string(got[0]) != "original" {
		t.Fatalf("queue kept the caller's memory: %q", got[0])
	}
}

func BenchmarkMemoryAppendNext(b *testing.B) {
	q := NewMemory(1<<30, Reject)
	r, _ := q.Reader("a")
	rec := [][]byte{make([]byte, 300)}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(300)
	for b.Loop() {
		q.Append(ctx, rec)
		r.Next(ctx, 1, 1<<20)
		r.Commit()
	}
}

// A record a slow reader holds is never written over, however many chunks
// a fast reader frees in the meantime; and a steady stream of appends that
// every reader commits allocates nothing once its chunks exist.
func TestMemoryChunksReusedOnlyWhenFree(t *testing.T) {
	q := NewMemory(64<<20, Reject)
	fast, _ := q.Reader("fast")
	slow, _ := q.Reader("slow")
	ctx := context.Background()
	rec := func(i int) []byte { return []byte(fmt.Sprintf("%07d-%s", i, make([]byte, 1000))) }
	const n = 3000 // about 12 chunks
	unit := make([][]byte, 1)
	for i := range n {
		unit[0] = rec(i)
		if err := q.Append(ctx, unit); err != nil {
			t.Fatal(err)
		}
	}
	held, err := slow.Next(ctx, 10, 1<<20) // kept across the fast reader's commits
	if err != nil || len(held) != 10 {
		t.Fatalf("slow reader: %d records, %v", len(held), err)
	}
	heldCopy := make([]string, len(held))
	for i, r := range held {
		heldCopy[i] = string(r)
	}
	for {
		got, err := fast.Next(ctx, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		fast.Commit()
		if string(got[len(got)-1][:7]) == fmt.Sprintf("%07d", n-1) {
			break
		}
	}
	// The slow reader commits its first ten: the chunks before them were
	// never in use, so only fully committed chunks come back.
	slow.Commit()
	for i := range n { // enough new records to go through every spare chunk
		unit[0] = rec(n + i)
		q.Append(ctx, unit)
	}
	for i, r := range held {
		if string(r) != heldCopy[i] {
			t.Fatalf("record %d was written over while the slow reader held it: %.20q", i, r)
		}
	}
	for i := 10; i < 2*n; {
		got, err := slow.Next(ctx, 500, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if want := rec(i); string(r) != string(want) {
				t.Fatalf("record %d reads %.20q, want %.20q", i, r, want)
			}
			i++
		}
		slow.Commit()
	}
	for {
		got, _ := fast.Next(ctx, 1000, 1<<20)
		fast.Commit()
		if len(got) == 0 || q.Stats().Records == 0 {
			break
		}
	}

	// 2,000 units of 100 records of 1 KiB: 200 MiB through the queue. What
	// it allocates is the wake-up channels, a few bytes a unit.
	unit = make([][]byte, 100)
	for i := range unit {
		unit[i] = rec(i)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 2000 {
		q.Append(ctx, unit)
		for _, r := range []Reader{fast, slow} {
			r.Next(ctx, 100, 1<<20)
			r.Commit()
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 2<<20 {
		t.Fatalf("200 MiB of records through the queue allocated %d bytes", got)
	}
}

// BenchmarkMemoryGroups moves units shaped like the intake's: 256 records
// of 430 bytes, read by one output.
func BenchmarkMemoryGroups(b *testing.B) {
	q := NewMemory(64<<20, Reject)
	r, _ := q.Reader("a")
	unit := make([][]byte, 256)
	for i := range unit {
		unit[i] = make([]byte, 430)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(256 * 430)
	for b.Loop() {
		q.Append(ctx, unit)
		r.Next(ctx, 256, 1<<20)
		r.Commit()
	}
}

// The memory a queue holds stays close to the bytes it counts against its
// cap, whatever the sizes of units and records: a unit that does not fit in
// what is left of a chunk goes on in the next one instead of leaving the
// rest of the chunk empty.
func TestMemoryHoldsLittleMoreThanItCounts(t *testing.T) {
	for _, size := range []int{100, 5 << 10, 26 << 10, 31 << 10, 33 << 10, 200 << 10} {
		q := NewMemory(16<<20, Reject)
		q.Reader("a") // never reads: everything stays
		unit := make([][]byte, 5)
		for i := range unit {
			unit[i] = make([]byte, size)
		}
		for q.Append(context.Background(), unit) == nil {
		}
		held := 0
		for _, c := range q.chunks {
			held += cap(c.buf)
		}
		if limit := q.bytes + q.bytes/8 + memChunkBytes; int64(held) > limit {
			t.Errorf("records of %d bytes: %d bytes counted, %d held (more than %d)", size, q.bytes, held, limit)
		}
	}
}
