package intake_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

// TestBufferBudgetHoldsAgainstManyHugeLines: 150 connections each send a
// large unfinished line and hold it; the bytes the agent buffers for them
// never pass limits.max_buffered_bytes, the connections that find no room
// are answered and closed, and a well-behaved client keeps sending and
// flushing throughout.
func TestBufferBudgetHoldsAgainstManyHugeLines(t *testing.T) {
	const budget = 8 << 20
	const partial = 1 << 20 // each hostile line: 1 MiB and no newline
	q := queue.NewMemory(64<<20, queue.Reject)
	srv, path := startServer(t, intake.Options{MaxBufferedBytes: budget, MaxPerPeer: 0, MaxPerProcess: -1, MaxConnections: 1000}, q)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var answers []string
	held := make(chan net.Conn, 150)
	for range 150 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held <- c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			c.Write([]byte(`{"payload":"` + strings.Repeat("x", partial)))
			// Read what the agent answers, if anything, while holding.
			line, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			answers = append(answers, line)
			mu.Unlock()
		}()
	}
	defer func() {
		close(held)
		for c := range held {
			c.Close()
		}
		wg.Wait()
	}()

	// The well-behaved client, sending and flushing while the others hold.
	good, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.SetDeadline(time.Now().Add(30 * time.Second))
	rd := bufio.NewReader(good)
	sent := 0
	for round := range 20 {
		for range 10 {
			fmt.Fprintln(good, validEntry)
			sent++
		}
		fmt.Fprintln(good, `{"action":"flush"}`)
		line, err := rd.ReadString('\n')
		if err != nil || !strings.Contains(line, fmt.Sprintf(`"accepted":%d,"rejected":0`, sent)) {
			t.Fatalf("round %d: flush answered %q, %v", round, line, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Wait until the hostile lines have been either taken into the budget
	// (a few: each holds about 2 MiB of buffer) or refused.
	deadline := time.Now().Add(20 * time.Second)
	for srv.Counters.OverBudget.Load() < 140 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	now, peak := srv.BufferedBytes()
	if peak > budget || now > budget {
		t.Fatalf("buffered %d bytes (peak %d) past the %d-byte budget", now, peak, budget)
	}
	if peak < budget/2 {
		t.Fatalf("peak %d: the test did not fill the budget", peak)
	}
	refused := srv.Counters.OverBudget.Load()
	if refused < 100 {
		t.Fatalf("only %d of 150 connections were refused with an %d-byte budget", refused, budget)
	}
	// Refused ones were told why.
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(answers)
		var told int
		for _, a := range answers {
			if strings.Contains(a, `"code":"unavailable"`) && strings.Contains(a, "max_buffered_bytes") {
				told++
			}
		}
		mu.Unlock()
		if int64(told) == refused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refused, %d told why (%d answers)", refused, told, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
