package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/logflux/agent/internal/bench"
)

func runBench(env Env, args []string) int {
	opts, err := bench.ParseFlags(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench.Execute(ctx, opts, env.Stdout, env.Stderr); err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent bench: %v\n", err)
		return 1
	}
	return 0
}
