// Package logflux sends log entries to the LogFlux agent over its local
// Agent API (NDJSON on a Unix socket, or TCP with a shared secret).
//
// A Client queues entries in memory, bounded in bytes, and a background
// sender writes them to the agent in batches of at most 100, reconnecting
// with capped, jittered backoff when the agent goes away. Logging never
// waits on the network. Flush returns once the agent has confirmed that
// everything logged before it is durable; Close flushes and stops. When the
// agent stays unreachable, entries can go to a local file that
// `logflux-agent send --file` replays, or to standard error. Every entry the
// SDK gives up on is counted in Stats by reason. The SDK never logs itself.
//
// Handler is a log/slog handler for the client; the zapadapter and
// logrusadapter modules connect zap and logrus.
//
//	client, err := logflux.New(logflux.Config{}) // the agent at the default socket
//	if err != nil {
//		return err
//	}
//	defer client.Close(context.Background())
//	slog.SetDefault(slog.New(logflux.NewHandler(client, nil)))
//	slog.Info("user logged in", "user", "ana")
//
// A Client is safe for use by many goroutines.
package logflux
