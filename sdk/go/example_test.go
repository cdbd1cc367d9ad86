package logflux_test

import (
	"context"
	"log/slog"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
)

func Example() {
	client, err := logflux.New(logflux.Config{}) // the agent at LOGFLUX_AGENT_ADDR or the default socket
	if err != nil {
		panic(err)
	}
	defer client.Close(context.Background())
	slog.SetDefault(slog.New(logflux.NewHandler(client, nil)))
	slog.Info("user logged in", "user", "ana")
}

func ExampleClient_Log() {
	client, _ := logflux.New(logflux.Config{Addr: "unix:///tmp/logflux-agent.sock", Source: "billing"})
	ctx := context.Background()
	client.Log(ctx, logflux.Entry{
		Payload:  "invoice sent",
		Level:    logflux.LevelNotice,
		Metadata: map[string]string{"invoice": "42"},
	})
	client.Log(ctx, logflux.Metric("invoices.sent", 1))
	client.Log(ctx, logflux.Audit("delete", "alice", "invoice/42"))

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		// errors.Is(err, logflux.ErrUnavailable): the entries stay queued,
		// or go to the fallback if one is configured.
		_ = err
	}
	client.Close(ctx)
}
