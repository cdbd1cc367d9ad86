package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/components"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/output"
)

// switchable fails every write while down is set, and counts what it gets.
type switchable struct {
	down atomic.Bool
	mu   sync.Mutex
	got  map[string]int
}

func (s *switchable) Name() string                { return "remote" }
func (s *switchable) Close(context.Context) error { return nil }
func (s *switchable) Write(_ context.Context, recs [][]byte) error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.got[string(r[len(r)-62:len(r)-2])]++ // the payload ends with the entry number
	}
	return nil
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestOutputOutage: the output fails for a while, ingest continues, memory
// stays flat while the backlog grows on disk, and after recovery the backlog
// drains completely while ingest goes on.
func TestOutputOutage(t *testing.T) {
	dir := t.TempDir()
	sockDir, _ := os.MkdirTemp("", "lfo")
	defer os.RemoveAll(sockDir)
	out := &switchable{got: map[string]int{}}
	reg := components.Registry()
	reg.Outputs = append(reg.Outputs, testFactory{out})
	cfg := config.Default(reg)
	cfg.DataDir = dir
	cfg.Unix.Path = filepath.Join(sockDir, "a.sock")
	cfg.Admin.Address = ""
	if err := cfg.AddOutput("test", "remote"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Retry: backoff.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())

	c, err := net.Dial("unix", cfg.Unix.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	r := bufio.NewReader(c)
	pad := fmt.Sprintf("%0400d", 0)
	next := 0
	send := func(n int) { // n entries, then a flush, waiting for its answer
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, `{"payload":"%s %060d","entryType":1,"source":"outage","logLevel":7}`+"\n", pad, next)
			next++
		}
		w.WriteString(`{"action":"flush"}` + "\n")
		w.Flush()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if line, err := r.ReadString('\n'); err != nil {
			t.Fatalf("flush: %v %q", err, line)
		}
	}

	out.down.Store(true)
	send(2000)
	before := heap()
	for i := 0; i < 50; i++ { // ~50k entries, ~30 MB of backlog on disk
		send(1000)
	}
	after := heap()
	st := a.QueueStats()
	if st.Records < 50000 {
		t.Fatalf("backlog %d entries, want at least 50000 waiting", st.Records)
	}
	t.Logf("backlog %d entries, %d MiB on disk; heap %d → %d KiB", st.Records, st.Bytes>>20, before>>10, after>>10)
	if after > before+8<<20 {
		t.Errorf("memory grew with the backlog: heap %d → %d bytes", before, after)
	}
	if ready, _ := a.Ready(time.Hour); !ready {
		t.Error("not ready within the stall allowance")
	}
	if ready, why := a.Ready(time.Nanosecond); ready || len(why) == 0 {
		t.Error("/readyz would not report a stalled output")
	}

	out.down.Store(false)
	deadline := time.Now().Add(60 * time.Second)
	for a.QueueStats().Records > 0 {
		send(100) // ingest goes on while the backlog drains
		if time.Now().After(deadline) {
			t.Fatalf("backlog did not drain: %d left", a.QueueStats().Records)
		}
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	missing := 0
	for i := 0; i < next; i++ {
		if out.got[fmt.Sprintf("%060d", i)] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d entries never reached the output", missing, next)
	}
}

// testFactory is an output type whose one output the test holds.
type testFactory struct{ out output.Output }

type testConfig struct{}

func (testConfig) Finish(component.Env) {}
func (testConfig) Validate() error      { return nil }

func (testFactory) Type() string                { return "test" }
func (testFactory) NewConfig() component.Config { return &testConfig{} }
func (f testFactory) New(component.Config, component.Settings) (output.Output, error) {
	return f.out, nil
}
