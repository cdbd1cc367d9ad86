package intake_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

const validEntry = `{"payload":"p","entryType":1,"source":"s","logLevel":7}`

func startServer(t *testing.T, opts intake.Options, q queue.Queue) (*intake.Server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv := intake.New(opts, q)
	path := filepath.Join(dir, "s.sock")
	ln, err := srv.ListenUnix(path, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(ln, intake.Unix)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, path
}

func ping(t *testing.T, path string) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, `{"action":"ping"}`)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "pong") {
		t.Fatalf("ping: %q %v", line, err)
	}
}

func TestBlockPolicyStopsReadingUntilRoom(t *testing.T) {
	q := queue.NewMemory(500, queue.Block)
	r, _ := q.Reader("out")
	_, path := startServer(t, intake.Options{MaxPendingBytes: 125}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 5; i++ { // each record is ~230 bytes: two fit at a time
		fmt.Fprintln(c, validEntry)
	}
	fmt.Fprintln(c, `{"action":"flush"}`)
	answers := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answers <- line
	}()
	// Nothing is refused: the client is simply not read while the queue is full.
	for got := 0; got < 5; {
		recs, err := r.Next(context.Background(), 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got += len(recs)
		r.Commit()
	}
	select {
	case line := <-answers:
		if !strings.Contains(line, `"accepted":5,"rejected":0`) {
			t.Fatalf("flush: %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no flush answer")
	}
}

func TestClientThatNeverReadsIsClosedAndOthersUnaffected(t *testing.T) {
	q := queue.NewMemory(1<<30, queue.Reject)
	r, _ := q.Reader("out")
	go func() {
		for {
			if _, err := r.Next(context.Background(), 1000, 1<<20); err != nil {
				return
			}
			r.Commit()
		}
	}()
	defer q.Close()
	srv, path := startServer(t, intake.Options{WriteTimeout: 200 * time.Millisecond}, q)
	bad, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	// Thousands of pings whose pongs are never read.
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(bad)
		var err error
		for i := 0; i < 2000000 && err == nil; i++ {
			_, err = w.WriteString(`{"action":"ping"}` + "\n")
		}
		if err == nil {
			err = w.Flush()
		}
		done <- err
	}()
	ping(t, path) // others are served meanwhile
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the agent kept reading from a client that never reads its answers")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the non-reading client was never closed")
	}
	ping(t, path)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Counters.UnixOpen.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.Counters.UnixOpen.Load(); n > 0 {
		t.Errorf("%d connections still open after the clients left", n)
	}
}

func TestConnectionLimit(t *testing.T) {
	q := queue.NewMemory(1<<20, queue.Reject)
	srv, path := startServer(t, intake.Options{MaxConnections: 2}, q)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Counters.UnixOpen.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, `"code":"unavailable"`) {
		t.Fatalf("third connection got %q, want unavailable", line)
	}
	held[0].Close()
	for srv.Counters.UnixOpen.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ping(t, path)
}

func TestShutdownFinishesWhatWasRead(t *testing.T) {
	q := queue.NewMemory(1<<30, queue.Reject)
	r, _ := q.Reader("out")
	srv, path := startServer(t, intake.Options{}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 1000
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(validEntry + "\n")
	}
	b.WriteString(`{"action":"flush"}` + "\n")
	c.Write([]byte(b.String()))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("flush %q", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an idle client open: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind")
	}
	q.CloseWrite()
	total := 0
	for {
		recs, err := r.Next(ctx, 10000, 1<<30)
		if err != nil {
			break
		}
		total += len(recs)
		r.Commit()
	}
	if total != n {
		t.Fatalf("%d entries queued, want %d", total, n)
	}
}

func TestManyConcurrentClients(t *testing.T) {
	q := queue.NewMemory(1<<30, queue.Reject)
	r, _ := q.Reader("out")
	_, path := startServer(t, intake.Options{}, q)
	const clients, per = 50, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			w := bufio.NewWriter(c)
			for j := 0; j < per; j++ {
				fmt.Fprintf(w, `{"payload":"c%d-%d","entryType":1,"source":"s","logLevel":7}`+"\n", i, j)
			}
			w.WriteString(`{"action":"flush"}` + "\n")
			w.Flush()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(line, fmt.Sprintf(`"accepted":%d,"rejected":0`, per)) {
				errs <- fmt.Errorf("client %d: %q %v", i, line, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := q.Stats(); st.Records != clients*per {
		t.Fatalf("queue holds %d, want %d", st.Records, clients*per)
	}
	_ = r
}

func TestRateLimitSlowsAClientDown(t *testing.T) {
	q := queue.NewMemory(1<<30, queue.Reject)
	srv, path := startServer(t, intake.Options{RateLimit: 100, MaxBatch: 100}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	for i := 0; i < 400; i++ {
		b.WriteString(validEntry + "\n")
	}
	b.WriteString(`{"action":"flush"}` + "\n")
	start := time.Now()
	go c.Write([]byte(b.String()))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"accepted":400,"rejected":0`) {
		t.Fatalf("flush: %q %v", line, err)
	}
	// 400 entries at 100/s with a burst of 100 cannot take less than 3 s;
	// nothing was refused, the client was only read more slowly.
	if d := time.Since(start); d < 2900*time.Millisecond {
		t.Fatalf("400 entries at 100/s were taken in %s", d)
	}
	if srv.Counters.Rejected.Load() != 0 {
		t.Fatal("the rate limit refused entries")
	}
}

func TestIdleTimeoutClosesSilentConnections(t *testing.T) {
	q := queue.NewMemory(1<<20, queue.Reject)
	_, path := startServer(t, intake.Options{IdleTimeout: 200 * time.Millisecond}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, `{"action":"ping"}`)
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, _ := r.ReadString('\n'); !strings.Contains(line, "pong") {
		t.Fatalf("ping: %q", line)
	}
	if _, err := r.ReadString('\n'); err == nil || isTimeoutErr(err) {
		t.Fatalf("a silent connection was not closed: %v", err)
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestPerPeerLimit(t *testing.T) {
	q := queue.NewMemory(1<<20, queue.Reject)
	_, path := startServer(t, intake.Options{MaxPerPeer: 2}, q)
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintln(c, `{"action":"ping"}`)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, "pong") {
			t.Fatalf("connection %d: %q", i, line)
		}
		conns = append(conns, c)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, `"code":"unavailable"`) || !strings.Contains(line, "this client") {
		t.Fatalf("third connection from the same user got %q", line)
	}
}

// A loopback TCP client is named by the user owning its socket, which the
// agent finds in /proc/net/tcp; the address form is what the kernel prints.
func TestLoopbackClientOwner(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		defer ln.Close()
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got, want := intake.AuthPeer(s), fmt.Sprintf("tcp-uid:%d", os.Getuid()); got != want {
			t.Errorf("%s: client named %q, want %q", network, got, want)
		}
	}
}
