package logrusadapter

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
	"github.com/logflux/agent/sdk/go/internal/fakeagent"
	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T, levels ...logrus.Level) (*fakeagent.Agent, *logflux.Client, *logrus.Logger) {
	a := fakeagent.Start(t, fakeagent.Options{})
	c, err := logflux.New(logflux.Config{Addr: a.Addr(), Source: "logrus-test", FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.TraceLevel)
	l.AddHook(NewHook(c, levels...))
	return a, c, l
}

func TestLogrusEntriesReachTheAgent(t *testing.T) {
	a, c, l := setup(t)
	l.SetReportCaller(true)
	l.WithFields(logrus.Fields{"user": "ana", "amount": 12.5, "took": 1500 * time.Millisecond}).
		WithError(errors.New("card declined")).
		Warn("payment failed")
	l.Trace("")
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	es := a.Entries()
	if len(es) != 2 {
		t.Fatalf("agent has %d entries, want 2", len(es))
	}
	e := es[0]
	if e.Payload != "payment failed" || e.LogLevel != 5 || e.Source != "logrus-test" || e.Timestamp == "" {
		t.Errorf("entry = %+v", e)
	}
	for k, v := range map[string]string{"user": "ana", "amount": "12.5", "took": "1.5s", "error": "card declined"} {
		if e.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, e.Metadata[k], v)
		}
	}
	if !strings.Contains(e.Metadata["source"], "hook_test.go:") || !strings.Contains(e.Metadata["function"], "TestLogrusEntriesReachTheAgent") {
		t.Errorf("caller metadata = %q, %q", e.Metadata["source"], e.Metadata["function"])
	}
	if es[1].Payload != logflux.EmptyMessage || es[1].LogLevel != 8 {
		t.Errorf("trace entry = %+v", es[1])
	}
}

func TestLogrusHookLevels(t *testing.T) {
	a, c, l := setup(t, logrus.ErrorLevel)
	l.Info("not sent")
	l.Error("sent")
	c.Flush(context.Background())
	if es := a.Entries(); len(es) != 1 || es[0].Payload != "sent" || es[0].LogLevel != 4 {
		t.Fatalf("entries = %+v", es)
	}
	for l, want := range map[logrus.Level]logflux.Level{
		logrus.TraceLevel: 8, logrus.DebugLevel: 8, logrus.InfoLevel: 7, logrus.WarnLevel: 5,
		logrus.ErrorLevel: 4, logrus.FatalLevel: 1, logrus.PanicLevel: 2,
	} {
		if got := Level(l); got != want {
			t.Errorf("Level(%v) = %v, want %v", l, got, want)
		}
	}
}

func TestLogrusPanicIsFlushedAtOnce(t *testing.T) {
	a, _, l := setup(t)
	func() {
		defer func() { recover() }()
		l.Panic("about to crash")
	}()
	if es := a.Entries(); len(es) != 1 || es[0].LogLevel != 2 {
		t.Fatalf("entries right after Panic = %+v", es)
	}
}
