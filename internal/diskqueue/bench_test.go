package diskqueue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/queue"
)

// The benchmarks run on the real filesystem under the test's temp dir, with
// 300-byte records (a typical normalised log entry).
const benchRecordBytes = 300

func benchQueue(b *testing.B) (*diskqueue.Queue, queue.Reader) {
	q := openQueue(b, diskqueue.Options{Dir: b.TempDir(), MaxBytes: 16 << 30})
	return q, reader(b, q, "out")
}

func benchUnit(n int) [][]byte {
	unit := make([][]byte, n)
	for i := range unit {
		unit[i] = bytes.Repeat([]byte{'x'}, benchRecordBytes)
	}
	return unit
}

// doneCtx is already done: Next returns what is there without waiting.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// trim consumes everything (timer stopped) once the queue holds more than
// 256 MiB, so a long benchmark does not fill the disk.
func trim(b *testing.B, q *diskqueue.Queue, r queue.Reader) {
	if q.Stats().Bytes < 256<<20 {
		return
	}
	b.StopTimer()
	for {
		if _, err := r.Next(doneCtx, 10000, 64<<20); err != nil {
			break
		}
		if err := r.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer()
}

func reportFsyncs(b *testing.B, q *diskqueue.Queue, before int64, flushes int) {
	fsyncs := q.DiskStats().Fsyncs - before
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(fsyncs)/s, "fsyncs/s")
	}
	if fsyncs > 0 && flushes > 0 {
		b.ReportMetric(float64(flushes)/float64(fsyncs), "syncs/fsync")
	}
}

// BenchmarkAppend appends units of 1 or 100 records, calling Sync after
// every Append, after every 100th, or never (the background syncer still
// fsyncs every SyncInterval).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, every := range []int{0, 100, 1} {
			name := fmt.Sprintf("batch=%d/sync=never", batch)
			if every > 0 {
				name = fmt.Sprintf("batch=%d/sync=every%d", batch, every)
			}
			b.Run(name, func(b *testing.B) {
				q, r := benchQueue(b)
				unit := benchUnit(batch)
				ctx := context.Background()
				before := q.DiskStats().Fsyncs
				b.SetBytes(int64(batch * benchRecordBytes))
				b.ReportAllocs()
				n, syncs := 0, 0
				for b.Loop() {
					if err := q.Append(ctx, unit); err != nil {
						b.Fatal(err)
					}
					n++
					if every > 0 && n%every == 0 {
						if err := q.Sync(ctx); err != nil {
							b.Fatal(err)
						}
						syncs++
					}
					if n%1024 == 0 {
						trim(b, q, r)
					}
				}
				b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "records/s")
				reportFsyncs(b, q, before, syncs)
			})
		}
	}
}

// BenchmarkFlushingClients has many clients each appending one record and
// calling Sync, as clients that send flush after every entry: throughput
// comes from sharing fsyncs. (RunParallel drives the clients, so this one
// uses pb.Next rather than b.Loop.)
func BenchmarkFlushingClients(b *testing.B) {
	for _, clients := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			q, _ := benchQueue(b)
			unit := benchUnit(1)
			before := q.DiskStats().Fsyncs
			b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := q.Append(ctx, unit); err != nil {
						b.Error(err)
						return
					}
					if err := q.Sync(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flushes/s")
			reportFsyncs(b, q, before, b.N)
		})
	}
}

// BenchmarkNextCommit reads and commits batches of up to 1000 records (the
// dispatcher's default), refilling the queue with the timer stopped.
func BenchmarkNextCommit(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q, r := benchQueue(b)
			unit := benchUnit(100)
			fill := func() {
				for range 1000 { // 100k records, 33 MB
					if err := q.Append(context.Background(), unit); err != nil {
						b.Fatal(err)
					}
				}
			}
			fill()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				recs, err := r.Next(doneCtx, batch, 4<<20)
				if errors.Is(err, context.Canceled) {
					b.StopTimer()
					fill()
					b.StartTimer()
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Commit(); err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(n)*benchRecordBytes/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		})
	}
}
