package logflux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Fallback says where entries go when the agent stays unreachable.
type Fallback int

const (
	// FallbackNone keeps entries queued in memory until the agent is back;
	// once the queue is full, new entries are dropped (ErrQueueFull).
	FallbackNone Fallback = iota
	// FallbackFile appends entries to Config.FallbackPath, one entry per line
	// in the Agent API's wire format, so that `logflux-agent send --file`
	// can replay them. The file is capped at Config.FallbackMaxBytes.
	FallbackFile
	// FallbackStderr writes the same lines to standard error.
	FallbackStderr
)

func (f Fallback) String() string {
	switch f {
	case FallbackNone:
		return "none"
	case FallbackFile:
		return "file"
	case FallbackStderr:
		return "stderr"
	}
	return fmt.Sprintf("Fallback(%d)", int(f))
}

// Config configures a Client. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// Addr is the agent's address, "unix:///path/agent.sock" or
	// "tcp://host:port". Empty: the environment variable LOGFLUX_AGENT_ADDR,
	// else /tmp/logflux-agent.sock, else /var/run/logflux-agent/agent.sock
	// (tried in that order at each connection attempt).
	Addr string
	// SharedSecret authenticates TCP connections. Empty: the environment
	// variable LOGFLUX_SHARED_SECRET. Not used on Unix sockets.
	SharedSecret string
	// Source names this program in entries that have no Source of their own.
	// Default: the executable's base name.
	Source string

	// QueueBytes caps the memory held by entries not yet confirmed by the
	// agent. Default 8 MiB.
	QueueBytes int
	// BatchBytes caps one batch line; a batch also holds at most 100 entries
	// (the agent's limit). Default 1 MiB, at most 15 MiB.
	BatchBytes int
	// FlushInterval is the longest an entry waits before its batch is sent,
	// and how often the SDK asks the agent to confirm what it sent.
	// Default 500ms.
	FlushInterval time.Duration
	// Connections is the size of the connection pool. Entries on different
	// connections may reach the agent out of order; use 1 to keep order.
	// Default 2, at most 16.
	Connections int

	// DialTimeout bounds connecting and authenticating. Default 2s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the agent; a connection that cannot
	// take a batch within it is dropped and its entries resent on another.
	// Default 10s.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the capped exponential backoff (with
	// full jitter) between failed connection attempts, and after the agent
	// answers queue_full. Defaults 50ms and 10s.
	MinBackoff, MaxBackoff time.Duration

	// Block makes Log wait for room in a full queue until its context is
	// done, instead of dropping the entry at once. The slog Handler then
	// waits until there is room or the client is closed.
	Block bool

	// Fallback says where entries go once the agent has been unreachable for
	// FallbackAfter, or sooner when the queue is three quarters full.
	// Default FallbackNone.
	Fallback Fallback
	// FallbackPath is the FallbackFile file. Default: logflux-fallback.ndjson
	// in os.TempDir().
	FallbackPath string
	// FallbackMaxBytes caps the fallback file; entries that do not fit are
	// dropped (Stats.Dropped["fallback_full"]). Default 64 MiB.
	FallbackMaxBytes int64
	// FallbackAfter is how long the agent must stay unreachable before
	// entries go to the fallback. Default 5s.
	FallbackAfter time.Duration

	// Test seams.
	stderr io.Writer
	dial   func(ctx context.Context, network, address string) (net.Conn, error)
}

// Defaults.
const (
	DefaultQueueBytes       = 8 << 20
	DefaultBatchBytes       = 1 << 20
	DefaultFlushInterval    = 500 * time.Millisecond
	DefaultConnections      = 2
	DefaultDialTimeout      = 2 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMinBackoff       = 50 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultFallbackMaxBytes = 64 << 20
	DefaultFallbackAfter    = 5 * time.Second
	maxConnections          = 16
	minQueueBytes           = 64 << 10
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Source == "" {
		c.Source = programName()
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = min(DefaultBatchBytes, c.QueueBytes/4)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.FallbackPath == "" {
		c.FallbackPath = filepath.Join(os.TempDir(), "logflux-fallback.ndjson")
	}
	if c.FallbackMaxBytes == 0 {
		c.FallbackMaxBytes = DefaultFallbackMaxBytes
	}
	if c.FallbackAfter == 0 {
		c.FallbackAfter = DefaultFallbackAfter
	}
	if c.stderr == nil {
		c.stderr = os.Stderr
	}
	return c
}

// Validate reports every problem with c at once. Zero fields are valid: they
// take defaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Addr != "" {
		if _, err := parseAddr(c.Addr); err != nil {
			errs = append(errs, err)
		}
	}
	if n := utf8.RuneCountInString(c.Source); n > maxSourceChars {
		bad("logflux: Source is %d characters, more than 256", n)
	}
	if c.QueueBytes != 0 && c.QueueBytes < minQueueBytes {
		bad("logflux: QueueBytes %d is less than 64 KiB", c.QueueBytes)
	}
	if c.BatchBytes < 0 || c.BatchBytes > maxLineBytes {
		bad("logflux: BatchBytes %d is not between 1 and 15 MiB", c.BatchBytes)
	}
	if q := cmp0(c.QueueBytes, DefaultQueueBytes); c.BatchBytes > q {
		bad("logflux: BatchBytes %d is more than QueueBytes %d", c.BatchBytes, q)
	}
	if c.Connections < 0 || c.Connections > maxConnections {
		bad("logflux: Connections %d is not between 1 and 16", c.Connections)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"FlushInterval", c.FlushInterval}, {"DialTimeout", c.DialTimeout},
		{"WriteTimeout", c.WriteTimeout}, {"MinBackoff", c.MinBackoff},
		{"MaxBackoff", c.MaxBackoff}, {"FallbackAfter", c.FallbackAfter},
	} {
		if d.v < 0 {
			bad("logflux: %s %v is negative", d.name, d.v)
		}
	}
	if c.MaxBackoff != 0 && c.MaxBackoff < c.MinBackoff {
		bad("logflux: MaxBackoff %v is less than MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.Fallback < FallbackNone || c.Fallback > FallbackStderr {
		bad("logflux: unknown Fallback %d", int(c.Fallback))
	}
	if c.FallbackMaxBytes < 0 {
		bad("logflux: FallbackMaxBytes %d is negative", c.FallbackMaxBytes)
	}
	return errors.Join(errs...)
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func programName() string {
	if len(os.Args) > 0 {
		name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
		if name != "" && name != "." && name != string(filepath.Separator) {
			return cutChars(name, maxSourceChars)
		}
	}
	return defaultSourceValue
}
