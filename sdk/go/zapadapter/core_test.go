package zapadapter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	logflux "github.com/logflux/agent/sdk/go"
	"github.com/logflux/agent/sdk/go/internal/fakeagent"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T) (*fakeagent.Agent, *logflux.Client) {
	a := fakeagent.Start(t, fakeagent.Options{})
	c, err := logflux.New(logflux.Config{Addr: a.Addr(), Source: "zap-test", FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return a, c
}

type user struct{ name string }

func (u user) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", u.name)
	return nil
}

func TestZapEntriesReachTheAgent(t *testing.T) {
	a, c := newClient(t)
	logger := zap.New(NewCore(c, zap.DebugLevel), zap.AddCaller()).Named("billing").With(zap.String("app", "shop"))
	logger.Warn("payment failed",
		zap.Int("amount", 12), zap.Error(errors.New("card declined")), zap.Duration("took", 1500*time.Millisecond),
		zap.Object("user", user{"ana"}), zap.Strings("tags", []string{"a", "b"}),
		zap.Namespace("req"), zap.String("id", "r-1"))
	logger.Debug("")
	logger.Info("filtered", zap.Bool("ok", true))
	if err := logger.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	es := a.Entries()
	if len(es) != 3 {
		t.Fatalf("agent has %d entries, want 3", len(es))
	}
	e := es[0]
	if e.Payload != "payment failed" || e.LogLevel != 5 || e.Source != "zap-test" || e.Timestamp == "" {
		t.Errorf("entry = %+v", e)
	}
	want := map[string]string{
		"app": "shop", "amount": "12", "error": "card declined", "took": "1.5s", "user.name": "ana",
		"tags": `["a","b"]`, "req.id": "r-1", "logger": "billing",
	}
	for k, v := range want {
		if e.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, e.Metadata[k], v)
		}
	}
	if !strings.Contains(e.Metadata["source"], "core_test.go:") {
		t.Errorf("source = %q", e.Metadata["source"])
	}
	if es[1].Payload != logflux.EmptyMessage || es[1].LogLevel != 8 {
		t.Errorf("empty debug entry = %+v", es[1])
	}
	if es[2].LogLevel != 7 || es[2].Metadata["ok"] != "true" {
		t.Errorf("info entry = %+v", es[2])
	}
}

func TestZapLevelEnablerFilters(t *testing.T) {
	a, c := newClient(t)
	logger := zap.New(NewCore(c, zap.WarnLevel))
	logger.Info("dropped")
	logger.Error("kept")
	logger.Sync()
	if es := a.Entries(); len(es) != 1 || es[0].Payload != "kept" || es[0].LogLevel != 4 {
		t.Fatalf("entries = %+v", es)
	}
}

func TestZapLevels(t *testing.T) {
	for l, want := range map[zapcore.Level]logflux.Level{
		zapcore.DebugLevel: 8, zapcore.InfoLevel: 7, zapcore.WarnLevel: 5, zapcore.ErrorLevel: 4,
		zapcore.DPanicLevel: 3, zapcore.PanicLevel: 2, zapcore.FatalLevel: 1,
	} {
		if got := Level(l); got != want {
			t.Errorf("Level(%v) = %v, want %v", l, got, want)
		}
	}
}

func TestZapPanicIsFlushedBeforeItUnwinds(t *testing.T) {
	a, c := newClient(t)
	logger := zap.New(NewCore(c, zap.InfoLevel))
	func() {
		defer func() { recover() }()
		logger.Panic("about to crash")
	}()
	// No Sync: the core flushed on its own.
	if es := a.Entries(); len(es) != 1 || es[0].LogLevel != 2 {
		t.Fatalf("entries right after Panic = %+v", es)
	}
}
