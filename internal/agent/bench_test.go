package agent

import (
	"bufio"
	"context"
	"fmt"
	"github.com/logflux/agent/internal/components"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logflux/agent/internal/config"
)

// BenchmarkPipeline streams ~300-byte entries over one Unix socket connection
// into a real agent (validation, queue, file output) and waits until the file
// output has written them all: end-to-end entries per second.
func BenchmarkPipeline(b *testing.B) {
	for _, qt := range []string{"memory", "disk"} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("queue=%s/batch=%d", qt, batch), func(b *testing.B) { benchPipeline(b, qt, batch) })
		}
	}
}

func benchPipeline(b *testing.B, queueType string, batch int) {
	dir := b.TempDir()
	sockDir, _ := os.MkdirTemp("", "lfp")
	defer os.RemoveAll(sockDir)
	cfg := config.Default(components.Registry())
	cfg.DataDir = dir
	cfg.Unix.Path = filepath.Join(sockDir, "a.sock")
	cfg.Admin.Address = ""
	cfg.Queue.Type = queueType
	if err := cfg.Finish(); err != nil {
		b.Fatal(err)
	}
	a, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	entry := `{"version":"1.0","payload":"GET /api/v1/users/42 200 12.3ms user-agent=Mozilla/5.0 (X11; Linux x86_64) request_id=9f1c2a7e-5b4d-4c1e-8f3a-2d6b7e9a0c11 n=%08d","entryType":1,"source":"api-gateway","logLevel":7,"metadata":{"service":"gateway"}}`
	var buf []byte
	n := b.N
	for i := 0; i < n; {
		if batch == 1 {
			buf = fmt.Appendf(buf, entry+"\n", i)
			i++
			continue
		}
		buf = append(buf, `{"entries":[`...)
		for j := 0; j < batch && i < n; j++ {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = fmt.Appendf(buf, entry, i)
			i++
		}
		buf = append(buf, "]}\n"...)
	}
	c, err := net.Dial("unix", cfg.Unix.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(len(buf) / max(n, 1)))
	b.ResetTimer()
	w := bufio.NewWriterSize(c, 1<<20)
	w.Write(buf)
	w.WriteString(`{"action":"flush"}` + "\n")
	w.Flush()
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	out := a.MetricOutputs()[0].Counters
	for out.Sent.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}
