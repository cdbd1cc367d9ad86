package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/config"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// adminFlag adds --admin-address, the running agent's admin server (as
// run's flag and LOGFLUX_ADMIN_ADDRESS name it).
func adminFlag(fs *flag.FlagSet, env Env) *string {
	def := env.Getenv("LOGFLUX_ADMIN_ADDRESS")
	if def == "" {
		def = config.DefaultAdmin
	}
	return fs.String("admin-address", def, "the agent's admin server `host:port` (env LOGFLUX_ADMIN_ADDRESS)")
}

func tapCmd(env Env, args []string) int {
	fs := flag.NewFlagSet("tap", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, `Usage: logflux-agent tap [flags]

Streams the entries a running agent accepts, as it normalises them, one line
each, until interrupted or --limit. A tap never slows the agent: when this
command cannot keep up, it loses entries of its own and says how many.
Allowed from the agent's own user on loopback, or anyone when admin.tap is true.

Flags:`)
		fs.PrintDefaults()
	}
	addr := adminFlag(fs, env)
	var sources, types listFlag
	fs.Var(&sources, "source", "only sources matching this `glob` (repeatable)")
	fs.Var(&types, "type", "only these entry `types`: log, metric, trace, event, audit or 1-5 (repeatable, or comma-separated)")
	level := fs.String("level", "", "only these `levels`: a level and the more severe ones (error), or a range (emergency..error, 5-8)")
	input := fs.String("input", "", "only entries from this `input` (api: the Unix socket and TCP listeners)")
	output := fs.String("output", "", "only what this `output` receives")
	limit := fs.Int("limit", 0, "stop after `N` entries (0: never)")
	sample := fs.Float64("sample", 0, "show this `fraction` of the matching entries, at random (0: all)")
	asJSON := fs.Bool("json", false, "print the normalised records as NDJSON instead of one readable line each")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	q := url.Values{}
	for _, s := range sources {
		q.Add("source", s)
	}
	var problems []string
	for _, t := range types {
		for _, s := range strings.Split(t, ",") {
			n, err := parseNamed(strings.TrimSpace(s), typeNames, 5)
			if err != nil {
				problems = append(problems, fmt.Sprintf("--type: %v", err))
				continue
			}
			q.Add("type", strconv.Itoa(n))
		}
	}
	if *level != "" {
		lo, hi, err := parseLevelRange(*level)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--level: %v", err))
		}
		q.Set("min_level", strconv.Itoa(lo))
		q.Set("max_level", strconv.Itoa(hi))
	}
	for k, v := range map[string]string{"input": *input, "output": *output} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	if *sample > 0 {
		q.Set("sample", strconv.FormatFloat(*sample, 'g', -1, 64))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(env.Stderr, "logflux-agent tap: %s\n", p)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+*addr+"/tap?"+q.Encode(), nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent tap: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent tap: no agent answers on %s: %v\n", *addr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		fmt.Fprintf(env.Stderr, "logflux-agent tap: the agent refused (%s): %s\n", resp.Status, e.Error)
		return 1
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	br := bufio.NewReaderSize(resp.Body, 256<<10)
	var dropped int64
	shown := 0
	var readErr error
	attached := false
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			readErr = err
			break
		}
		line = line[:len(line)-1]
		if bytes.HasPrefix(line, []byte(`{"tap":`)) {
			var n struct {
				Tap struct {
					Dropped int64
					End     string
				}
			}
			if !attached {
				attached = true
				fmt.Fprintf(env.Stderr, "logflux-agent tap: attached to %s\n", *addr)
			}
			if json.Unmarshal(line, &n) == nil && n.Tap.Dropped > dropped {
				out.Flush()
				fmt.Fprintf(env.Stderr, "logflux-agent tap: this tap lost %d entries so far (it could not keep up; the agent lost none)\n", n.Tap.Dropped)
				dropped = n.Tap.Dropped
			}
			continue
		}
		shown++
		if *asJSON {
			out.Write(line)
			out.WriteByte('\n')
		} else {
			out.WriteString(humanLine(line))
		}
		if br.Buffered() == 0 { // the next read may wait: show what came
			out.Flush()
		}
	}
	out.Flush()
	if readErr != io.EOF && ctx.Err() == nil {
		fmt.Fprintf(env.Stderr, "logflux-agent tap: the stream ended: %v\n", readErr)
		return 1
	}
	fmt.Fprintf(env.Stderr, "logflux-agent tap: %d entries shown, %d lost by this tap\n", shown, dropped)
	return 0
}

// parseLevelRange reads "error" (error and more severe: 1..4), "A..B" or "A-B".
func parseLevelRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "..")
	if !isRange {
		a, b, isRange = strings.Cut(s, "-")
	}
	if !isRange {
		hi, err = parseNamed(s, levelNames, 8)
		return 1, hi, err
	}
	if lo, err = parseNamed(a, levelNames, 8); err != nil {
		return 0, 0, err
	}
	if hi, err = parseNamed(b, levelNames, 8); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi, nil
}

var levelLabels = [...]string{"", "EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG"}

// humanLine renders a normalised record as one line: time, level, source,
// payload, metadata.
func humanLine(rec []byte) string {
	var r struct {
		Timestamp string            `json:"timestamp"`
		EntryType int               `json:"entryType"`
		LogLevel  int               `json:"logLevel"`
		Source    string            `json:"source"`
		Payload   string            `json:"payload"`
		Metadata  map[string]string `json:"metadata"`
	}
	if json.Unmarshal(rec, &r) != nil {
		return string(rec) + "\n"
	}
	ts := r.Timestamp
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		ts = t.Local().Format("15:04:05.000")
	}
	lvl := ""
	if r.LogLevel >= 1 && r.LogLevel <= 8 {
		lvl = levelLabels[r.LogLevel]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-6s %s", ts, lvl, r.Source)
	if r.EntryType != 1 {
		for name, n := range typeNames {
			if n == r.EntryType {
				fmt.Fprintf(&b, " [%s]", name)
			}
		}
	}
	b.WriteString(" ")
	b.WriteString(strings.ReplaceAll(r.Payload, "\n", `\n`))
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.Metadata[k])
	}
	b.WriteByte('\n')
	return b.String()
}
