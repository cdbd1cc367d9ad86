// Command waitlines waits until a file has N more lines than when it started
// (the file may not exist yet; a rotation is followed), then prints the time
// the last of them was seen, in Unix nanoseconds, and the lines seen:
// bench/compare-io.sh uses it to time daemons that write their output to a
// file, without re-reading the whole file on every poll.
//
//	waitlines -lines N [-idle D] [-timeout 10m] FILE
//
// With -idle it stops once lines stopped arriving for D, prints when the last
// one was seen and how many there were, and exits 3 (for lossy senders such
// as UDP). It exits 1, saying how many lines it saw, when the timeout passes
// first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/bench"
)

func main() {
	lines := flag.Int64("lines", 0, "lines to wait for")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	idle := flag.Duration("idle", 0, "stop when no line arrived for this long (0: wait for all)")
	flag.Parse()
	if flag.NArg() != 1 || *lines <= 0 {
		fmt.Fprintln(os.Stderr, "usage: waitlines -lines N [-idle D] [-timeout D] FILE")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	at, seen, err := bench.WaitLines(ctx, flag.Arg(0), *lines, *idle)
	if errors.Is(err, bench.ErrStalled) {
		fmt.Println(at.UnixNano(), seen)
		os.Exit(3)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "waitlines: %d of %d lines in %s: %v\n", seen, *lines, flag.Arg(0), err)
		os.Exit(1)
	}
	fmt.Println(at.UnixNano(), seen)
}
