package logflux

import (
	"context"
	"testing"
	"time"

	"github.com/logflux/agent/sdk/go/internal/fakeagent"
	"github.com/logflux/agent/sdk/go/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, removeAgentBinary) }

// testConfig is a config for a test against addr: quick timers so tests
// stay short.
func testConfig(addr string) Config {
	return Config{
		Addr:          addr,
		Source:        "sdk-test",
		FlushInterval: 20 * time.Millisecond,
		DialTimeout:   5 * time.Second,
		WriteTimeout:  time.Second,
		MinBackoff:    5 * time.Millisecond,
		MaxBackoff:    50 * time.Millisecond,
		FallbackAfter: 50 * time.Millisecond,
	}
}

// newClient returns a client that is closed when the test ends.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

func startAgent(t testing.TB) *fakeagent.Agent {
	return fakeagent.Start(t, fakeagent.Options{})
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustLog(t testing.TB, c *Client, e Entry) {
	t.Helper()
	if err := c.Log(context.Background(), e); err != nil {
		t.Fatalf("Log: %v", err)
	}
}

func mustFlush(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}
