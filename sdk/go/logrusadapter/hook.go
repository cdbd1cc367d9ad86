// Package logrusadapter sends logrus logs to the LogFlux agent through a
// logflux.Client, as a logrus.Hook:
//
//	client, _ := logflux.New(logflux.Config{})
//	logrus.AddHook(logrusadapter.NewHook(client))
//	logrus.SetOutput(io.Discard) // if the agent should be the only output
//	defer client.Close(context.Background())
//
// Each entry becomes a log entry: the message is the payload, the level maps
// as Level says, fields become metadata (values as strings: errors by
// Error, others with fmt), and with ReportCaller the caller is "source"
// (file:line) and "function". Fire only queues the entry, like
// logflux.Client.Log; a dropped entry is counted in the client's Stats
// rather than returned, since logrus prints hook errors on standard error
// for every entry. Panic and Fatal entries are flushed at once, since the
// program is about to end.
package logrusadapter

import (
	"context"
	"fmt"
	"strconv"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
	"github.com/sirupsen/logrus"
)

// FlushTimeout bounds the flush after Panic and Fatal entries.
var FlushTimeout = 5 * time.Second

// Hook is a logrus.Hook that logs through a logflux.Client.
type Hook struct {
	c      *logflux.Client
	levels []logrus.Level
}

var _ logrus.Hook = (*Hook)(nil)

// NewHook returns a hook that sends entries of the given levels (default:
// all) through c.
func NewHook(c *logflux.Client, levels ...logrus.Level) *Hook {
	if len(levels) == 0 {
		levels = logrus.AllLevels
	}
	return &Hook{c: c, levels: levels}
}

// Levels returns the levels the hook fires for.
func (h *Hook) Levels() []logrus.Level { return h.levels }

// Level maps a logrus level to an Agent API level: Trace and Debug 8,
// Info 7, Warn 5, Error 4, Fatal 1 (Emergency), Panic 2 (Alert).
func Level(l logrus.Level) logflux.Level {
	switch l {
	case logrus.PanicLevel:
		return logflux.LevelAlert
	case logrus.FatalLevel:
		return logflux.LevelEmergency
	case logrus.ErrorLevel:
		return logflux.LevelError
	case logrus.WarnLevel:
		return logflux.LevelWarning
	case logrus.InfoLevel:
		return logflux.LevelInfo
	}
	return logflux.LevelDebug
}

// Fire queues the entry.
func (h *Hook) Fire(e *logrus.Entry) error {
	md := make(map[string]string, len(e.Data)+2)
	for k, v := range e.Data {
		md[k] = format(v)
	}
	if e.Caller != nil {
		md["source"] = e.Caller.File + ":" + strconv.Itoa(e.Caller.Line)
		md["function"] = e.Caller.Function
	}
	msg := e.Message
	if msg == "" {
		msg = logflux.EmptyMessage
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	h.c.Log(ctx, logflux.Entry{
		Payload:   msg,
		Level:     Level(e.Level),
		Timestamp: e.Time,
		Metadata:  md,
	})
	if e.Level <= logrus.FatalLevel {
		fctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
		h.c.Flush(fctx)
		cancel()
	}
	return nil
}

func format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
