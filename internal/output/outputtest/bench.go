package outputtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
)

// Drain is an HTTP server that reads every request body whole and answers
// 200 with body (or nothing): the cheapest receiver, so that a benchmark
// measures the output.
func Drain(tb testing.TB, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// BenchWrite writes b.N standard records (about 300 bytes each, as
// bench/ab.sh sends) through out in batches of batch, and reports
// entries/s.
func BenchWrite(b *testing.B, out output.Output, batch int) {
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = Record(b, Entry{Payload: "GET /api/v1/orders/12345 200 1532 bytes in 12.3 ms from 192.0.2.10 user-agent curl/8.5.0 trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 …padding to a typical line…",
			Source: "web", Level: 6, Metadata: map[string]string{"region": "eu", "host": "web-1", "request_id": "f3a1c2"}})
	}
	b.SetBytes(int64(len(recs[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		if err := out.Write(context.Background(), recs[:min(batch, b.N-n)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchDrain runs a dispatcher over recs (in a memory queue filled before
// the clock starts) into out, b.N times, and reports entries/s of wall
// time and entries per CPU second of the whole process (an in-process
// broker included). On a shared machine the wall time measures the
// neighbours too; the CPU time much less so.
func BenchDrain(b *testing.B, out output.Output, recs [][]byte) {
	benchDrain(b, out, recs, func() queue.Queue { return queue.NewMemory(1<<30, queue.Reject) })
}

// BenchDrainDisk is BenchDrain from a disk queue (the agent's default) in a
// temporary directory, written and synced before the clock starts: the
// dispatcher reads the records back from the queue's files (mostly from
// the page cache) as the agent does after a backlog.
func BenchDrainDisk(b *testing.B, out output.Output, recs [][]byte) {
	benchDrain(b, out, recs, func() queue.Queue {
		q, err := diskqueue.Open(diskqueue.Options{Dir: b.TempDir(), MaxBytes: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.Close() })
		return q
	})
}

func benchDrain(b *testing.B, out output.Output, recs [][]byte, newQueue func() queue.Queue) {
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		run := StartOn(b, newQueue(), out, recs, 1000, 10*time.Minute)
		b.StartTimer()
		c0 := CPUTime(b)
		run.Wait(b)
		cpu += CPUTime(b) - c0
	}
	n := float64(len(recs)) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(n/cpu.Seconds(), "entries/cpu-s")
}

// CPUTime is the user and system CPU time this process has used.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
