package queue

import (
	"context"
	"errors"
	"fmt"
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
