// Command logflux-bench is the load generator and reporter: it drives a LogFlux agent (or a peer such as rsyslog) with NDJSON and reports throughput, flush latency, CPU and memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/logflux/agent/internal/bench"
)

func main() {
	opts, err := bench.ParseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench.Execute(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "logflux-bench: %v\n", err)
		os.Exit(1)
	}
}
