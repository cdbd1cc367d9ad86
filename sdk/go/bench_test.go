package logflux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/sdk/go/internal/fakeagent"
)

// sinkConn is an in-memory agent that takes everything and answers pings
// and flushes at once, so benchmarks measure the caller's cost, not a
// fake agent's JSON decoding.
type sinkConn struct {
	mu     sync.Mutex
	cond   *sync.Cond
	out    bytes.Buffer
	closed bool
}

func dialSink(context.Context, string, string) (net.Conn, error) {
	s := &sinkConn{}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

func (s *sinkConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	switch {
	case bytes.Equal(p, batchSuffix):
		s.out.WriteString("{\"status\":\"pong\"}\n")
	case bytes.Equal(p, flushLine):
		s.out.WriteString("{\"status\":\"success\",\"action\":\"flush\",\"accepted\":0,\"rejected\":0}\n")
	default:
		return len(p), nil
	}
	s.cond.Signal()
	return len(p), nil
}

func (s *sinkConn) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.out.Len() == 0 && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return 0, io.EOF
	}
	return s.out.Read(p)
}

func (s *sinkConn) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

func (s *sinkConn) LocalAddr() net.Addr                { return &net.UnixAddr{Name: "sink", Net: "unix"} }
func (s *sinkConn) RemoteAddr() net.Addr               { return &net.UnixAddr{Name: "sink", Net: "unix"} }
func (s *sinkConn) SetDeadline(t time.Time) error      { return nil }
func (s *sinkConn) SetReadDeadline(t time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(t time.Time) error { return nil }

func sinkClient(tb testing.TB) *Client {
	cfg := testConfig("unix:///sink")
	cfg.dial = dialSink
	cfg.FlushInterval = 100 * time.Millisecond
	return newClient(tb, cfg)
}

func benchRecord() slog.Record {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request served", 0)
	r.AddAttrs(slog.String("method", "GET"), slog.String("path", "/api/v1/orders"),
		slog.Int("status", 200), slog.Duration("took", 1234*time.Microsecond))
	return r
}

// BenchmarkHandlerHandle is the cost of one slog record on the caller's
// goroutine: encode, queue, and the sender's share of the lock.
func BenchmarkHandlerHandle(b *testing.B) {
	c := sinkClient(b)
	h := NewHandler(c, nil).WithAttrs([]slog.Attr{slog.String("service", "orders")})
	r := benchRecord()
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := h.Handle(ctx, r); err != nil && !errors.Is(err, ErrQueueFull) {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.StopTimer()
	reportDrops(b, c)
}

// BenchmarkSlogInfo is a whole slog call through a Logger, slog's own
// costs included.
func BenchmarkSlogInfo(b *testing.B) {
	c := sinkClient(b)
	l := slog.New(NewHandler(c, nil))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		l.Info("request served", "method", "GET", "path", "/api/v1/orders", "status", 200)
	}
	cpu.report(b)
	b.StopTimer()
	reportDrops(b, c)
}

func BenchmarkHandlerHandleParallel(b *testing.B) {
	c := sinkClient(b)
	h := NewHandler(c, nil)
	r := benchRecord()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			h.Handle(ctx, r)
		}
	})
	b.StopTimer()
	reportDrops(b, c)
}

// BenchmarkClientLog is one Client.Log call with three metadata keys.
func BenchmarkClientLog(b *testing.B) {
	c := sinkClient(b)
	e := Entry{
		Payload:  "request served",
		Level:    LevelInfo,
		Metadata: map[string]string{"method": "GET", "path": "/api/v1/orders", "status": "200"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := c.Log(ctx, e); err != nil && !errors.Is(err, ErrQueueFull) {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.StopTimer()
	reportDrops(b, c)
}

// cpuMeter reports the benchmark goroutine's own CPU time per op
// ("cpu-ns/op") next to the wall time.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter {
	runtime.LockOSThread()
	return cpuMeter{threadCPU()}
}

func (m cpuMeter) report(b *testing.B) {
	if d := threadCPU() - m.start; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d)/float64(b.N), "cpu-ns/op")
	}
	runtime.UnlockOSThread()
}

func reportDrops(b *testing.B, c *Client) {
	s := c.Stats()
	if s.Logged > 0 {
		b.ReportMetric(float64(s.Dropped["queue_full"])/float64(s.Logged+s.Dropped["queue_full"])*100, "%dropped")
	}
}

// BenchmarkEndToEndFakeAgent pushes entries through a real Unix socket into
// the fake agent, which decodes and checks every entry (leniently, as its
// strict checks are slow), and reports the rate up to the agent's flush
// answer. Block mode: nothing is dropped. The fake agent is the bottleneck.
func BenchmarkEndToEndFakeAgent(b *testing.B) {
	a := fakeagent.Start(b, fakeagent.Options{Lenient: true})
	cfg := testConfig(a.Addr())
	cfg.Block = true
	endToEnd(b, newClient(b, cfg))
}

func endToEnd(b *testing.B, c *Client) {
	h := NewHandler(c, nil)
	r := benchRecord()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		h.Handle(ctx, r)
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
	if s := c.Stats(); s.Confirmed < uint64(b.N) {
		b.Fatalf("only %d of %d entries confirmed", s.Confirmed, b.N)
	}
}

func TestHandleAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	c := sinkClient(t)
	h := NewHandler(c, nil).WithAttrs([]slog.Attr{slog.String("service", "orders")})
	r := benchRecord()
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { h.Handle(ctx, r) }); n > 1 {
		t.Errorf("Handler.Handle allocates %v times per call, budget 1", n)
	}
	e := Entry{Payload: "x", Metadata: map[string]string{"a": "b"}}
	if n := testing.AllocsPerRun(1000, func() { c.Log(ctx, e) }); n > 1 {
		t.Errorf("Client.Log allocates %v times per call, budget 1", n)
	}
}

// BenchmarkStdlibJSONHandler is a yardstick: the standard library's JSON
// handler formatting the same record to io.Discard, on the same machine.
func BenchmarkStdlibJSONHandler(b *testing.B) {
	h := slog.NewJSONHandler(io.Discard, nil).WithAttrs([]slog.Attr{slog.String("service", "orders")})
	r := benchRecord()
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		h.Handle(ctx, r)
	}
	cpu.report(b)
}
