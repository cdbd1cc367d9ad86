package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/logflux/agent/internal/top"
)

func topCmd(env Env, args []string) int {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, `Usage: logflux-agent top [flags]

Shows a running agent's intake, queue and outputs, from its admin server's
/metrics and /status, refreshed every --interval; q quits. When standard
output is not a terminal, or with --once, it prints one frame as plain text
(rates over one --interval) and exits.

Flags:`)
		fs.PrintDefaults()
	}
	addr := adminFlag(fs, env)
	interval := fs.Duration("interval", time.Second, "time between refreshes, and over which rates are measured")
	once := fs.Bool("once", false, "print one frame as plain text and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *interval < 100*time.Millisecond {
		fmt.Fprintln(env.Stderr, "logflux-agent top: --interval must be at least 100ms")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	out, isFile := env.Stdout.(*os.File)
	if *once || !isFile || !term.IsTerminal(int(out.Fd())) {
		return topOnce(ctx, env, client, *addr, *interval)
	}
	return topLive(ctx, env, out, client, *addr, *interval)
}

// topOnce prints one frame, with rates measured over one interval.
func topOnce(ctx context.Context, env Env, client *http.Client, addr string, interval time.Duration) int {
	first, err := top.Scrape(ctx, client, addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent top: %s: %v\n", addr, err)
		return 1
	}
	select {
	case <-time.After(interval):
	case <-ctx.Done():
		return 1
	}
	last, err := top.Scrape(ctx, client, addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent top: %s: %v\n", addr, err)
		return 1
	}
	v := top.View{Addr: addr, First: first, Prev: first, Last: last}
	fmt.Fprintln(env.Stdout, strings.Join(v.Frame(0, 0), "\n"))
	return 0
}

// topLive draws frames on the terminal's alternate screen until q, Ctrl-C
// or a signal.
func topLive(ctx context.Context, env Env, out *os.File, client *http.Client, addr string, interval time.Duration) int {
	quit := make(chan struct{})
	if in, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		old, err := term.MakeRaw(int(in.Fd()))
		if err == nil {
			defer term.Restore(int(in.Fd()), old)
		}
		go func() {
			b := make([]byte, 16)
			for {
				n, err := in.Read(b)
				if err != nil {
					return
				}
				for _, c := range b[:n] {
					if c == 'q' || c == 'Q' || c == 3 { // 3: Ctrl-C in raw mode
						close(quit)
						return
					}
				}
			}
		}()
	}
	fmt.Fprint(out, "\x1b[?1049h\x1b[?25l") // alternate screen, cursor hidden
	defer fmt.Fprint(out, "\x1b[?25h\x1b[?1049l")
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)

	var v top.View
	v.Addr = addr
	var lastErr error
	draw := func() {
		w, h, err := term.GetSize(int(out.Fd()))
		if err != nil {
			w, h = 120, 40
		}
		var lines []string
		switch {
		case v.Last != nil:
			lines = v.Frame(w, h-1)
		default:
			lines = []string{fmt.Sprintf("logflux-agent top — %s — waiting for the agent", addr)}
		}
		if lastErr != nil {
			lines = append(lines[:min(len(lines), max(h-2, 0))], fmt.Sprintf("! %v", lastErr))
		}
		var b strings.Builder
		b.WriteString("\x1b[H")
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\x1b[K\r\n")
		}
		b.WriteString("\x1b[J")
		io.WriteString(out, b.String())
	}
	scrape := func() {
		s, err := top.Scrape(ctx, client, addr)
		lastErr = err
		if err != nil {
			return
		}
		if v.First == nil {
			v.First = s
		}
		v.Prev, v.Last = v.Last, s
		if v.Prev == nil {
			v.Prev = s
		}
	}
	scrape()
	draw()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return 0
		case <-ctx.Done():
			return 0
		case <-winch:
			draw()
		case <-tick.C:
			scrape()
			draw()
		}
	}
}
