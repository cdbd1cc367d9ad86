package logflux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/logflux/agent/sdk/go/internal/fakeagent"
)

// entryMap turns an entry as the agent received it back into the map that
// slogtest expects: msg, level, time, and dotted metadata keys as groups.
func entryMap(t *testing.T, e fakeagent.Entry) map[string]any {
	m := map[string]any{
		slog.MessageKey: e.Payload,
		slog.LevelKey:   Level(e.LogLevel).Slog(),
	}
	if e.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		m[slog.TimeKey] = ts
	}
	for k, v := range e.Metadata {
		parts := strings.Split(k, ".")
		g := m
		for _, p := range parts[:len(parts)-1] {
			sub, ok := g[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				g[p] = sub
			}
			g = sub
		}
		g[parts[len(parts)-1]] = v
	}
	return m
}

func TestHandlerPassesSlogtest(t *testing.T) {
	var a *fakeagent.Agent
	var c *Client
	slogtest.Run(t,
		func(t *testing.T) slog.Handler {
			a = startAgent(t)
			c = newClient(t, testConfig(a.Addr()))
			return NewHandler(c, &HandlerOptions{AddSource: true})
		},
		func(t *testing.T) map[string]any {
			mustFlush(t, c)
			es := a.Entries()
			if len(es) != 1 {
				t.Fatalf("agent has %d entries, want 1", len(es))
			}
			return entryMap(t, es[0])
		})
}

func TestLevelMapping(t *testing.T) {
	for _, tc := range []struct {
		slog slog.Level
		want Level
	}{
		{slog.LevelDebug - 4, LevelDebug},
		{slog.LevelDebug, LevelDebug},
		{slog.LevelInfo - 1, LevelDebug},
		{slog.LevelInfo, LevelInfo},
		{slog.LevelInfo + 1, LevelInfo},
		{SlogLevelNotice, LevelNotice},
		{slog.LevelWarn, LevelWarning},
		{slog.LevelError, LevelError},
		{slog.LevelError + 2, LevelError},
		{SlogLevelCritical, LevelCritical},
		{SlogLevelAlert, LevelAlert},
		{SlogLevelEmergency, LevelEmergency},
		{SlogLevelEmergency + 100, LevelEmergency},
	} {
		if got := LevelFromSlog(tc.slog); got != tc.want {
			t.Errorf("LevelFromSlog(%v) = %v, want %v", tc.slog, got, tc.want)
		}
	}
	for l := LevelEmergency; l <= LevelDebug; l++ {
		if got := LevelFromSlog(l.Slog()); got != l {
			t.Errorf("LevelFromSlog(%v.Slog()) = %v", l, got)
		}
	}
}

func TestHandlerEnabledFollowsLeveler(t *testing.T) {
	c := newClient(t, testConfig("unix:///nonexistent.sock"))
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	h := NewHandler(c, &HandlerOptions{Level: &lv})
	ctx := context.Background()
	if h.Enabled(ctx, slog.LevelInfo) || !h.Enabled(ctx, slog.LevelWarn) {
		t.Error("Enabled ignores the Leveler at Warn")
	}
	lv.Set(slog.LevelDebug)
	if !h.WithGroup("g").Enabled(ctx, slog.LevelDebug) {
		t.Error("Enabled does not follow the LevelVar, or WithGroup lost it")
	}
	if NewHandler(c, nil).Enabled(ctx, slog.LevelDebug) {
		t.Error("default handler level is below Info")
	}
}

type textish struct{}

func (textish) MarshalText() ([]byte, error) { return []byte("as text"), nil }

func TestHandlerMetadata(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	base := NewHandler(c, &HandlerOptions{Level: slog.LevelDebug, AddSource: true, Source: "billing"})
	l := slog.New(base).With("app", "shop").WithGroup("req").With("id", 7)
	l.Error("payment failed",
		"amount", 12.5, "ok", false, "n", uint64(3), "took", 1500*time.Millisecond,
		"at", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		"err", errors.New("card declined"), "addr", netip.MustParseAddr("10.0.0.1"),
		"t", textish{}, "list", []int{1, 2}, "nothing", nil,
		slog.Group("user", "name", "ana", slog.Group("", "inline", "yes")),
		slog.Group("empty"))
	slog.New(base).Log(context.Background(), SlogLevelCritical, "")
	mustFlush(t, c)
	es := a.Entries()
	if len(es) != 2 {
		t.Fatalf("agent has %d entries", len(es))
	}
	e := es[0]
	if e.Payload != "payment failed" || e.LogLevel != 4 || e.Source != "billing" || e.EntryType != 1 {
		t.Errorf("entry = %+v", e)
	}
	want := map[string]string{
		"app": "shop", "req.id": "7", "req.amount": "12.5", "req.ok": "false", "req.n": "3",
		"req.took": "1.5s", "req.at": "2025-01-02T03:04:05Z", "req.err": "card declined",
		"req.addr": "10.0.0.1", "req.t": "as text", "req.list": "[1 2]", "req.nothing": "<nil>",
		"req.user.name": "ana", "req.user.inline": "yes",
	}
	for k, v := range want {
		if e.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, e.Metadata[k], v)
		}
	}
	src := e.Metadata["source"]
	if !strings.Contains(src, "handler_test.go:") {
		t.Errorf("source = %q, want this file and line", src)
	}
	if len(e.Metadata) != len(want)+1 {
		t.Errorf("metadata has extra keys: %v", e.Metadata)
	}
	if es[1].Payload != EmptyMessage || es[1].LogLevel != 3 || es[1].Metadata["source"] == "" {
		t.Errorf("empty-message entry = %+v", es[1])
	}
}

func TestHandlerWithDoesNotChangeParent(t *testing.T) {
	a := startAgent(t)
	c := newClient(t, testConfig(a.Addr()))
	h := NewHandler(c, nil)
	h1 := h.WithAttrs([]slog.Attr{slog.String("a", "1")})
	h2 := h1.WithGroup("g").WithAttrs([]slog.Attr{slog.String("b", "2")})
	h3 := h1.WithAttrs([]slog.Attr{slog.String("c", "3")}) // shares h1's attrs
	for i, hh := range []slog.Handler{h, h1, h2, h3} {
		hh.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, fmt.Sprint(i), 0))
	}
	mustFlush(t, c)
	got := map[string]map[string]string{}
	for _, e := range a.Entries() {
		got[e.Payload] = e.Metadata
	}
	want := map[string]map[string]string{
		"0": nil,
		"1": {"a": "1"},
		"2": {"a": "1", "g.b": "2"},
		"3": {"a": "1", "c": "3"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metadata = %v, want %v", got, want)
	}
}

func TestHandlerAfterCloseCountsDrop(t *testing.T) {
	c, err := New(testConfig("unix:///nonexistent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctxTimeout(t, time.Second))
	l := slog.New(NewHandler(c, nil))
	l.Info("late")
	if d := c.Stats().Dropped["closed"]; d != 1 {
		t.Errorf("Dropped[closed] = %d", d)
	}
}

func TestHandlerNeverSendsDuplicateKeys(t *testing.T) {
	a := startAgent(t) // refuses duplicate keys, as the agent does
	c := newClient(t, testConfig(a.Addr()))
	l := slog.New(NewHandler(c, &HandlerOptions{AddSource: true})).With("a", 1, "b", 1, "a", 2)
	l.Info("dups", "a", 3, "c", 1, "c", 2, "source", "mine", slog.Group("g", "x", 1), "g.x", 2)
	var many []any
	for i := range 80 {
		many = append(many, fmt.Sprint("k", i%30), i)
	}
	l.WithGroup("m").Info("many", many...)
	mustFlush(t, c)
	if s := c.Stats(); len(s.Rejected) != 0 {
		t.Fatalf("agent rejected entries: %v (%v)", s.Rejected, s.LastError)
	}
	es := a.Entries()
	if len(es) != 2 {
		t.Fatalf("agent has %d entries", len(es))
	}
	want := map[string]string{"a": "3", "b": "1", "c": "2", "g.x": "2"}
	for k, v := range want {
		if es[0].Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q (last wins)", k, es[0].Metadata[k], v)
		}
	}
	if !strings.Contains(es[0].Metadata["source"], "handler_test.go:") || len(es[0].Metadata) != 5 {
		t.Errorf("metadata = %v", es[0].Metadata)
	}
	m := es[1].Metadata
	if len(m) != 30+3 || m["m.k0"] != "60" || m["m.k29"] != "59" {
		t.Errorf("80 attributes over 30 keys gave %d keys: %v", len(m), m)
	}
}
