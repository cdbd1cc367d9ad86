package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/logflux/agent/internal/bench"
	"github.com/logflux/agent/internal/udpstat"
)

// waiter follows the agent's output file from before the first message is
// sent, so that no line is missed, and reads the agent's CPU time around the
// run.
type waiter struct {
	start   time.Time
	cpu0    float64
	pid     int
	count   int64
	network string
	done    chan struct{}
	at      time.Time
	seen    int64
	err     error
}

func startWait(path string, count int64, network string, idle time.Duration, pid int) *waiter {
	w := &waiter{count: count, network: network, pid: pid, done: make(chan struct{})}
	if network != "udp" {
		idle = 0 // TCP loses nothing: wait for every line
	}
	if pid > 0 {
		if st, err := bench.ReadProcStat(pid); err == nil {
			w.cpu0 = st.CPUSeconds
		}
	}
	w.start = time.Now()
	go func() {
		defer close(w.done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		w.at, w.seen, w.err = bench.WaitLines(ctx, path, count, idle)
		if errors.Is(w.err, bench.ErrStalled) {
			w.err = nil // UDP: what arrived
		}
	}()
	return w
}

// report waits for the lines and prints the end-to-end figures.
func (w *waiter) report(out io.Writer, hostport string) error {
	<-w.done
	if w.err != nil {
		return fmt.Errorf("%d of %d lines arrived: %w", w.seen, w.count, w.err)
	}
	took := w.at.Sub(w.start).Seconds()
	fmt.Fprintf(out, "delivered %d of %d messages to the file in %.3f s: %.0f messages/s end to end\n", w.seen, w.count, took, float64(w.seen)/took)
	if w.pid > 0 {
		if st, err := bench.ReadProcStat(w.pid); err == nil && w.seen > 0 {
			fmt.Fprintf(out, "agent CPU: %.2f s, %.2f µs per message delivered\n", st.CPUSeconds-w.cpu0, (st.CPUSeconds-w.cpu0)*1e6/float64(w.seen))
		}
	}
	if w.network == "udp" {
		if drops, err := udpDrops(hostport); err == nil {
			fmt.Fprintf(out, "kernel drops at the receiving socket: %d (%.1f %% of those sent)\n", drops, 100*float64(drops)/float64(w.count))
		}
	}
	return nil
}

// udpDrops reads the drop counter of the UDP socket bound to hostport:
// datagrams the kernel discarded because the socket's receive buffer was
// full.
func udpDrops(hostport string) (int64, error) {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, err
	}
	s, err := udpstat.Lookup(func(s udpstat.Socket) bool { return s.Port == p })
	return s.Drops, err
}
