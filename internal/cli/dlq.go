package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/agent"
	"github.com/logflux/agent/internal/deadletter"
)

func dlq(env Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprintln(env.Stderr, `Usage: logflux-agent dlq list|replay [flags]

  list     show the entries that outputs refused permanently, oldest first
  replay   send them back through the outputs that refused them (stop the agent first)

Flags: --config and --data-dir, with the same environment as 'run'; 'list --json'
prints one JSON object per entry; 'replay --output NAME' sends everything to NAME.`)
		return 2
	}
	sub := args[0]
	f := newAgentFlags("dlq "+sub, env).keep("config", "data-dir")
	asJSON, only := new(bool), new(string)
	if sub == "list" {
		f.fs.BoolVar(asJSON, "json", false, "print each entry as a JSON line")
		setUsage(f.fs, "Usage: logflux-agent dlq list [flags]\n\nShows the entries that outputs refused permanently, oldest first.")
	} else {
		f.fs.StringVar(only, "output", "", "send every entry to this output `name` instead of the one that refused it")
		setUsage(f.fs, "Usage: logflux-agent dlq replay [flags]\n\nSends the stored entries back through the outputs that refused them (stop the agent first).")
	}
	if err := f.fs.Parse(args[1:]); err != nil {
		return parseExit(err)
	}
	cfg, err := f.loadValid(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "logflux-agent dlq: the configuration is not valid:")
		printProblems(env.Stderr, err)
		return 2
	}
	if sub == "list" {
		return dlqList(env, cfg.DeadLetter.Dir, *asJSON)
	}
	lock, err := agent.LockDir(cfg.DeadLetter.Dir)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: %v\nStop the agent first: it owns the dead-letter store while it runs.\n", err)
		return 1
	}
	defer lock.Close()
	store, err := deadletter.Open(deadletter.Options{Dir: cfg.DeadLetter.Dir, MaxBytes: int64(cfg.DeadLetter.MaxBytes)})
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: %v\n", err)
		return 1
	}
	defer store.Close()

	outs, err := agent.BuildOutputs(cfg, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: %v\n", err)
		return 1
	}
	for _, o := range outs {
		defer o.Close(context.Background())
	}
	if *only != "" && outs[*only] == nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: no output named %q in the configuration\n", *only)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bar := newProgress(env.Stderr)
	sent, err := store.ReplayItems(ctx, func(ctx context.Context, items []deadletter.Item) error {
		byOut := map[string][][]byte{}
		var order []string
		for _, it := range items {
			name := it.Output
			if *only != "" {
				name = *only
			}
			if outs[name] == nil {
				return fmt.Errorf("entry refused by output %q, which is not in the configuration any more; use --output NAME", name)
			}
			if byOut[name] == nil {
				order = append(order, name)
			}
			byOut[name] = append(byOut[name], it.Entry)
		}
		for _, name := range order {
			if err := outs[name].Write(ctx, byOut[name]); err != nil {
				return fmt.Errorf("output %s: %w", name, err)
			}
		}
		return nil
	}, bar.update)
	bar.done()
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq replay: %v (%d entries sent; the rest stay in the store)\n", err, sent)
		return 1
	}
	fmt.Fprintf(env.Stderr, "%d entries replayed\n", sent)
	return 0
}

// dlqList prints the dead-letter store in dir. It opens it read-only, so it
// works beside a running agent (which keeps the store locked and writing).
func dlqList(env Env, dir string, asJSON bool) int {
	store, err := deadletter.OpenReadOnly(deadletter.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))})
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: %v\n", err)
		return 1
	}
	defer store.Close()
	n := 0
	err = store.List(func(it deadletter.Item) error {
		n++
		if asJSON {
			b, _ := json.Marshal(map[string]any{"output": it.Output, "reason": it.Reason, "at": it.At, "entry": it.Entry})
			fmt.Fprintf(env.Stdout, "%s\n", b)
			return nil
		}
		fmt.Fprintf(env.Stdout, "%s  %-10s  %s\n    %s\n", it.At.Format(time.RFC3339), it.Output, it.Reason, describe(it.Entry))
		return nil
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent dlq: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stderr, "%d entries (%d bytes) in %s\n", n, store.Stats().Bytes, dir)
	return 0
}

// describe shows an entry as a person reads it: id, source, level, payload.
func describe(entry []byte) string {
	var e struct {
		ID       string `json:"id"`
		Source   string `json:"source"`
		LogLevel int    `json:"logLevel"`
		Payload  string `json:"payload"`
	}
	if json.Unmarshal(entry, &e) != nil || e.ID == "" {
		return excerpt(entry, 200)
	}
	return fmt.Sprintf("id=%s source=%s level=%d: %s", e.ID, e.Source, e.LogLevel, excerpt([]byte(e.Payload), 160))
}

func excerpt(b []byte, n int) string {
	s := strings.ReplaceAll(string(b), "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// progress draws a one-line progress bar on a terminal, and nothing
// elsewhere (a log file should not fill up with carriage returns).
type progress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.tty || total == 0 || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	const width = 40
	filled := width * done / total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
