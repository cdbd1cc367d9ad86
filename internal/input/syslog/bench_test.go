package syslog

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input/entrybuild"
)

// countSink counts what it is given and keeps nothing: the benchmarks
// measure the input, not the queue.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Append(_ context.Context, recs [][]byte) error {
	s.n.Add(int64(len(recs)))
	return nil
}
func (s *countSink) Sync(context.Context) error { return nil }

func benchInput(b *testing.B, address string) (*Input, *countSink, string) {
	c := defaults()
	c.Address = address
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	in, _ := Factory{}.New(c, component.Settings{Name: "bench", MaxAppendBytes: 1 << 20})
	sink := &countSink{}
	if err := in.Start(context.Background(), sink); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		in.Shutdown(ctx)
	})
	u := in.(*Input).Status().Listeners[0]
	return in.(*Input), sink, u[len("udp://"):]
}

const benchMsg = `<165>1 2025-10-11T22:14:15.003Z mymach.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event log entry with a few words`

// BenchmarkTCP sends octet-counted RFC 5424 messages over one connection
// and reports what the input turned into entries per second.
func BenchmarkTCP(b *testing.B) {
	in, sink, addr := benchInput(b, "tcp://127.0.0.1:0")
	_ = in
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	frame := []byte(fmt.Sprintf("%d %s", len(benchMsg), benchMsg))
	block := make([]byte, 0, 256<<10)
	for len(block)+len(frame) <= cap(block) {
		block = append(block, frame...)
	}
	perBlock := len(block) / len(frame)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		k := min(perBlock, b.N-sent)
		if _, err := conn.Write(block[:k*len(frame)]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	for sink.n.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkUDP sends datagrams as fast as one sender can and reports the
// messages the input turned into entries per second, and the share the
// kernel dropped (UDP has no flow control).
func BenchmarkUDP(b *testing.B) {
	_, sink, addr := benchInput(b, "udp://127.0.0.1:0")
	conn, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg := []byte(benchMsg)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		conn.Write(msg)
	}
	// Wait until nothing more arrives.
	last, still := int64(-1), 0
	for still < 20 {
		n := sink.n.Load()
		if n == last {
			still++
		} else {
			still, last = 0, n
		}
		if n >= int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start) - time.Duration(still)*5*time.Millisecond
	got := sink.n.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(100*float64(int64(b.N)-got)/float64(b.N), "%lost")
}

// BenchmarkParseAndBuild is the input's work per message without the
// network: parse, validate, write the record. BenchmarkParseOnly is the
// library's parse alone, for the ratio.
func BenchmarkParseAndBuild(b *testing.B) {
	c := defaults()
	c.Address = "udp://127.0.0.1:1"
	c.Validate()
	p := newParser(c)
	bl := entrybuild.New("bench", 1<<20, nil)
	raw := []byte(benchMsg)
	b.ReportAllocs()
	for b.Loop() {
		f, _ := p.parse(raw, "127.0.0.1:5000")
		if _, err := bl.Add(f); err != nil {
			b.Fatal(err)
		}
		if bl.Full() {
			bl.Reset()
		}
	}
}

func BenchmarkParseOnly(b *testing.B) {
	c := defaults()
	c.Address = "udp://127.0.0.1:1"
	c.Validate()
	p := newParser(c)
	raw := []byte(benchMsg)
	b.ReportAllocs()
	for b.Loop() {
		p.m.Parse(raw)
	}
}
