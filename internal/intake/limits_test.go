package intake_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

const tcpSecret = "limits-test-secret-0123456789abcdef"

// startTCP serves a TCP listener on loopback and returns its address.
func startTCP(t *testing.T, srv *intake.Server) string {
	t.Helper()
	ln, err := srv.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(ln, intake.TCP)
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, line)
	got, _ := bufio.NewReader(c).ReadString('\n')
	return got
}

// TestHelperClientProcess is not a test: run as a child by the tests below,
// it is another process of the same user pinging the agent.
func TestHelperClientProcess(t *testing.T) {
	path := os.Getenv("LOGFLUX_TEST_PING_SOCKET")
	if path == "" {
		t.Skip("only run as a helper process")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	fmt.Print(roundTrip(t, c, `{"action":"ping"}`))
}

// One process holding every connection its user may have must not lock
// out another process of the same user.
func TestOneProcessCannotLockOutItsNeighbours(t *testing.T) {
	logs := newSyncWriter()
	srv, path := startServer(t, intake.Options{MaxPerPeer: 8, MaxPerProcess: 4, Log: slog.New(slog.NewTextHandler(logs, nil))}, queue.NewMemory(1<<20, queue.Reject))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 10 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The process's own fifth connection is refused…
	if a := roundTrip(t, held[9], `{"action":"ping"}`); !strings.Contains(a, "this process is at its limit of 4 connections") {
		t.Fatalf("the fifth connection of one process: %q", a)
	}
	// …and another process of the same user still gets in.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOGFLUX_TEST_PING_SOCKET="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pong") {
		t.Fatalf("a neighbour process was locked out: %v\n%s", err, out)
	}
	if n := srv.Counters.Refusals()["max_connections_per_process"]; n != 6 {
		t.Fatalf("refusals counted: %d, want 6", n)
	}
	// Six refusals, one log line carrying the count.
	l := logs.String()
	if strings.Count(l, "refused a connection") != 1 || !strings.Contains(l, "count=1") {
		t.Fatalf("want one rate-limited line:\n%s", l)
	}
}

// Connections that never authenticate cannot keep a TCP client out: they
// have their own small cap, and a newcomer closes the one waiting longest.
func TestUnauthenticatedTCPCannotHoldTheDoor(t *testing.T) {
	srv := intake.New(intake.Options{SharedSecret: tcpSecret, MaxPerPeer: 16, MaxUnauthenticated: 4}, queue.NewMemory(1<<20, queue.Reject))
	defer srv.Shutdown(context.Background())
	addr := startTCP(t, srv)
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 30 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		time.Sleep(2 * time.Millisecond) // keep their order of arrival
	}
	good, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if a := roundTrip(t, good, `{"action":"authenticate","shared_secret":"`+tcpSecret+`"}`); !strings.Contains(a, `"success"`) {
		t.Fatalf("a client behind 30 unauthenticated connections: %q", a)
	}
	idle[0].SetDeadline(time.Now().Add(10 * time.Second))
	if a, _ := bufio.NewReader(idle[0]).ReadString('\n'); !strings.Contains(a, `"auth_timeout"`) || !strings.Contains(a, "make room") {
		t.Fatalf("the oldest waiting connection was told %q", a)
	}
	if n := srv.Counters.Refusals()["unauthenticated_evicted"]; n < 20 {
		t.Fatalf("evictions counted: %d", n)
	}
}

// A client that got the secret wrong a few times (a rollout, a typo) is not
// locked out of the right one; guessing at a brute-force rate is.
func TestRightSecretAfterFailuresIsAccepted(t *testing.T) {
	srv := intake.New(intake.Options{SharedSecret: tcpSecret, AuthFailLimit: 2}, queue.NewMemory(1<<20, queue.Reject))
	defer srv.Shutdown(context.Background())
	addr := startTCP(t, srv)
	try := func(secret string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return roundTrip(t, c, `{"action":"authenticate","shared_secret":"`+secret+`"}`)
	}
	for range 5 {
		if a := try("wrong-secret"); !strings.Contains(a, "auth_failed") {
			t.Fatalf("wrong secret: %q", a)
		}
	}
	if a := try(tcpSecret); !strings.Contains(a, `"success"`) {
		t.Fatalf("the right secret after 5 failures: %q", a)
	}
	for range 40 { // 2 x 20: a brute-force rate
		try("wrong-secret")
	}
	if a := try(tcpSecret); !strings.Contains(a, "too many failed authentications") {
		t.Fatalf("the right secret after guessing at a brute-force rate: %q", a)
	}
}

// A Unix connection that sends no complete line is closed after
// FirstLineTimeout; one that sent a line is not.
func TestConnectionWithoutALineIsClosed(t *testing.T) {
	srv, path := startServer(t, intake.Options{FirstLineTimeout: 300 * time.Millisecond}, queue.NewMemory(1<<20, queue.Reject))
	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	talker, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	if a := roundTrip(t, talker, `{"action":"ping"}`); !strings.Contains(a, "pong") {
		t.Fatal(a)
	}
	silent.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(silent).ReadString('\n'); err == nil {
		t.Fatal("the silent connection got an answer")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the silent connection was not closed")
	}
	time.Sleep(400 * time.Millisecond)
	if a := roundTrip(t, talker, `{"action":"ping"}`); !strings.Contains(a, "pong") {
		t.Fatalf("a connection that sent a line was closed too: %q", a)
	}
	if n := srv.Counters.Refusals()["first_line_timeout"]; n != 1 {
		t.Fatalf("first_line_timeout counted %d times", n)
	}
}
