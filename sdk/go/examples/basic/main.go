// Command basic logs through the LogFlux Go SDK: a few slog records, a
// metric and an event, then closes the client, which waits until the agent
// has confirmed every entry. The agent is found as the SDK documents
// (LOGFLUX_AGENT_ADDR, then the default sockets); -addr overrides it.
//
//	go run ./examples/basic -addr unix:///tmp/logflux-agent.sock
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
)

func main() {
	addr := flag.String("addr", "", "agent address: unix:///path or tcp://host:port")
	flag.Parse()

	client, err := logflux.New(logflux.Config{Addr: *addr, Source: "basic-example"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(2)
	}
	logger := slog.New(logflux.NewHandler(client, &logflux.HandlerOptions{AddSource: true}))

	logger.Info("example started", "pid", os.Getpid())
	logger.Warn("disk almost full", slog.Group("disk", "path", "/var", "used_pct", 91))
	logger.With("request_id", "r-42").Error("payment failed", "err", fmt.Errorf("card declined"))

	ctx := context.Background()
	client.Log(ctx, logflux.Metric("example.runs", 1, "unit", "count"))
	client.Log(ctx, logflux.Event("example.finished"))

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = client.Close(ctx) // flushes: returns once the agent confirmed everything
	s := client.Stats()
	fmt.Printf("logged %d entries, %d confirmed by the agent\n", s.Logged, s.Confirmed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}
