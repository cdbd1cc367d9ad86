package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logflux/agent/internal/logtest"
)

type fakeAgent struct{}

func (fakeAgent) Ready() (bool, []string) { return true, nil }
func (fakeAgent) Status() any             { return map[string]string{"state": "running"} }
func (fakeAgent) Reload() error           { return nil }

// When its address is taken, the admin server says so in one line, reports
// itself not listening with the failed attempts, and starts serving as soon
// as the address is free.
func TestServeWhenFreeWaitsForTheAddress(t *testing.T) {
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := blocker.Addr().String()
	logs, log := logtest.New()
	s := ServeWhenFree(addr, Handler(fakeAgent{}, prometheus.NewRegistry()), log, 10*time.Millisecond)
	defer s.Shutdown(context.Background())

	st := s.State()
	if st.Listening || st.ListenFailures < 1 || !strings.Contains(st.Error, "in use") || st.Address != addr {
		t.Fatalf("while the address is taken: %+v", st)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "NOT listening") || !strings.Contains(logs.String(), addr) {
		t.Fatalf("want one line naming %s:\n%s", addr, logs.String())
	}
	time.Sleep(50 * time.Millisecond) // a few more failed attempts, not logged
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("retries must not log each time:\n%s", logs.String())
	}
	blocker.Close()

	deadline := time.Now().Add(10 * time.Second)
	for !s.State().Listening {
		if time.Now().After(deadline) {
			t.Fatalf("never listened after the address was freed: %+v", s.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st = s.State()
	failures, since := s.Listener()
	if st.ListenFailures < 2 || failures != st.ListenFailures || since.IsZero() || st.UnavailableFor == "" || st.Error != "" {
		t.Fatalf("after listening: %+v (failures %d, since %v)", st, failures, since)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok\n" {
		t.Fatalf("healthz: %q", body)
	}
	if !strings.Contains(logs.String(), "listening at last") {
		t.Fatalf("the recovery is not logged:\n%s", logs.String())
	}
}

// Shutdown stops the attempts of a server that never listened.
func TestShutdownStopsTrying(t *testing.T) {
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	s := ServeWhenFree(blocker.Addr().String(), http.NotFoundHandler(), slog.New(slog.DiscardHandler), 5*time.Millisecond)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := s.State().ListenFailures
	time.Sleep(30 * time.Millisecond)
	if s.State().ListenFailures != n || s.State().Listening {
		t.Fatalf("still trying after Shutdown: %+v", s.State())
	}
}
