package file

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/queue"
)

// benchLines is the size of the benchmarks' file: 200-byte lines, as in
// bench/file-input.sh.
const benchLines = 100_000

// countSink counts the records appended and drops them; Sync returns at
// once. It measures the input's own work.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Append(_ context.Context, recs [][]byte) error {
	s.n.Add(int64(len(recs)))
	return nil
}

func (s *countSink) Sync(ctx context.Context) error { return ctx.Err() }

// queueSink is the real disk queue, counting what was appended.
type queueSink struct {
	*diskqueue.Queue
	n atomic.Int64
}

func (s *queueSink) Append(ctx context.Context, recs [][]byte) error {
	if err := s.Queue.Append(ctx, recs); err != nil {
		return err
	}
	s.n.Add(int64(len(recs)))
	return nil
}

// writeBenchFile writes n lines of 199 characters and a newline, each
// different.
func writeBenchFile(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pad := make([]byte, 189)
	for i := range pad {
		pad[i] = 'x'
	}
	for i := range n {
		fmt.Fprintf(w, "%09d %s\n", i, pad)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReadLines reads one file of 200-byte lines from the beginning
// to its end, each iteration with a fresh checkpoint: into a sink that
// drops the records (the input's own work), and into the real disk queue
// (appends, fsyncs and checkpoints included). Profile with
//
//	go test -run '^$' -bench ReadLines -cpuprofile cpu.out ./internal/input/file/
func BenchmarkReadLines(b *testing.B) {
	dir := b.TempDir()
	log := filepath.Join(dir, "big.log")
	writeBenchFile(b, log, benchLines)
	for _, sinkKind := range []string{"discard", "diskqueue"} {
		b.Run("sink="+sinkKind, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(benchLines * 200)
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				data := b.TempDir()
				var sink input.Sink
				var count func() int64
				switch sinkKind {
				case "discard":
					s := &countSink{}
					sink, count = s, s.n.Load
				default:
					q, err := diskqueue.Open(diskqueue.Options{Dir: filepath.Join(data, "queue"), MaxBytes: 1 << 30, Policy: queue.Block})
					if err != nil {
						b.Fatal(err)
					}
					s := &queueSink{Queue: q}
					sink, count = s, s.n.Load
				}
				c := defaultConfig()
				c.Include = []string{log}
				c.StartAt = "beginning"
				c.Finish(component.Env{DataDir: data, Getenv: os.Getenv})
				in, err := Factory{}.New(c, component.Settings{Name: "bench", Log: slog.New(slog.DiscardHandler), DataDir: data, MaxAppendBytes: 1 << 20, Metrics: new(component.Metrics)})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := processCPU()
				if err := in.Start(context.Background(), sink); err != nil {
					b.Fatal(err)
				}
				for count() < benchLines {
					time.Sleep(100 * time.Microsecond)
				}
				b.StopTimer()
				cpu += processCPU() - cpu0
				if err := in.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				if q, ok := sink.(*queueSink); ok {
					q.Close()
				}
				if got := count(); got != benchLines {
					b.Fatalf("%d records, want %d", got, benchLines)
				}
				b.StartTimer()
			}
			if s := b.Elapsed().Seconds(); s > 0 {
				b.ReportMetric(float64(b.N*benchLines)/s, "lines/s")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLines), "ns/line")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchLines), "cpu-ns/line")
		})
	}
}

// processCPU is the user plus system time the process used so far, all
// its threads (the queue's syncer included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheckpoint10000Files writes the checkpoint of 10,000 files, as
// a commit does after a round in which any of them grew.
func BenchmarkCheckpoint10000Files(b *testing.B) {
	files := make([]fileOffsets, 10000)
	for i := range files {
		var t tail
		t.path = fmt.Sprintf("/var/log/pods/ns_pod-%d_0123/app/%d.log", i, i)
		t.key = fileKey{dev: 2049, ino: uint64(100000 + i)}
		t.fpLen = 1024
		t.fp[0], t.seed[0] = byte(i), byte(i>>8)
		files[i] = t.offsets(int64(i) * 1000)
	}
	path := filepath.Join(b.TempDir(), "x.offsets.json")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = saveCheckpoint(path, files, 1, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes")
}
