// Package zapadapter sends zap logs to the LogFlux agent through a
// logflux.Client, as a zapcore.Core:
//
//	client, _ := logflux.New(logflux.Config{})
//	logger := zap.New(zapadapter.NewCore(client, zap.InfoLevel))
//	defer client.Close(context.Background())
//
// Each entry becomes a log entry: the message is the payload, the level maps
// as Level says, fields become metadata (values as strings, namespaces and
// objects as dotted keys), the logger name is metadata "logger", the caller
// "source" (file:line) and a stack trace "stacktrace". Write only queues
// the entry, like logflux.Client.Log; Sync is Client.Flush. Entries above
// Error (DPanic, Panic, Fatal) are flushed at once, since the program may
// be about to end.
package zapadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
	"go.uber.org/zap/zapcore"
)

// SyncTimeout bounds Sync and the flush after entries above Error.
var SyncTimeout = 5 * time.Second

// Core is a zapcore.Core that logs through a logflux.Client.
type Core struct {
	zapcore.LevelEnabler
	c      *logflux.Client
	fields []zapcore.Field
}

var _ zapcore.Core = (*Core)(nil)

// NewCore returns a Core that logs entries enabled by enab through c.
func NewCore(c *logflux.Client, enab zapcore.LevelEnabler) *Core {
	return &Core{LevelEnabler: enab, c: c}
}

// Level maps a zap level to an Agent API level: Debug 8, Info 7, Warn 5,
// Error 4, DPanic 3 (Critical), Panic 2 (Alert), Fatal 1 (Emergency).
func Level(l zapcore.Level) logflux.Level {
	switch {
	case l < zapcore.InfoLevel:
		return logflux.LevelDebug
	case l == zapcore.InfoLevel:
		return logflux.LevelInfo
	case l == zapcore.WarnLevel:
		return logflux.LevelWarning
	case l == zapcore.ErrorLevel:
		return logflux.LevelError
	case l == zapcore.DPanicLevel:
		return logflux.LevelCritical
	case l == zapcore.PanicLevel:
		return logflux.LevelAlert
	}
	return logflux.LevelEmergency
}

// With returns a Core that adds fields to every entry.
func (c *Core) With(fields []zapcore.Field) zapcore.Core {
	c2 := *c
	c2.fields = append(c.fields[:len(c.fields):len(c.fields)], fields...)
	return &c2
}

// Check adds c to ce if the entry's level is enabled.
func (c *Core) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write queues the entry.
func (c *Core) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	md := make(map[string]string, len(enc.Fields)+3)
	flatten(md, "", enc.Fields)
	if ent.LoggerName != "" {
		md["logger"] = ent.LoggerName
	}
	if ent.Caller.Defined {
		md["source"] = fmt.Sprintf("%s:%d", ent.Caller.File, ent.Caller.Line)
	}
	if ent.Stack != "" {
		md["stacktrace"] = ent.Stack
	}
	msg := ent.Message
	if msg == "" {
		msg = logflux.EmptyMessage
	}
	err := c.c.Log(context.Background(), logflux.Entry{
		Payload:   msg,
		Level:     Level(ent.Level),
		Timestamp: ent.Time,
		Metadata:  md,
	})
	if ent.Level > zapcore.ErrorLevel {
		c.Sync()
	}
	return err
}

// Sync flushes the client: it returns once the agent has confirmed every
// entry so far durable, or after SyncTimeout.
func (c *Core) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), SyncTimeout)
	defer cancel()
	return c.c.Flush(ctx)
}

// flatten turns the map encoder's nested fields into dotted string keys.
func flatten(md map[string]string, prefix string, fields map[string]any) {
	for k, v := range fields {
		if m, ok := v.(map[string]any); ok {
			flatten(md, prefix+k+".", m)
			continue
		}
		md[prefix+k] = format(v)
	}
}

func format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	case []any:
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
