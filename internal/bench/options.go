// Package bench is the load generator and reporter behind the logflux-bench command: it drives an agent (or a peer such as rsyslog) with pre-encoded NDJSON, and measures throughput, flush latency, and the target process's CPU and memory.
package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logflux/agent/internal/client"
)

// Limits of the Agent API that a workload must respect.
const (
	MaxBatch        = 100     // entries per batch message
	MaxPayloadBytes = 1 << 20 // bytes of one payload
	maxLineBytes    = 16 << 20
	// lineOverhead is an upper bound on what one entry adds to its payload
	// in a message (keys, source, metadata); see workload.go.
	lineOverhead = 160
)

// Options describe one workload, or a sweep of workloads.
type Options struct {
	Addr   string // unix:///path or tcp://host:port
	Secret string // shared secret, TCP only

	Connections  int     // concurrent connections
	Batch        int     // entries per message: 1 sends single entries, 2..100 batches
	PayloadBytes int     // bytes of each entry's payload field
	Rate         float64 // entries per second across all connections; 0 = as fast as possible

	Count    int64         // entries to send in all; 0 = until Duration ends
	Duration time.Duration // how long to send; 0 = until Count entries are sent

	FlushEvery   int64         // per connection: send a flush after every N entries and wait for its answer; 0 = never
	FlushAtEnd   bool          // end each connection with a flush (the agent's accepted/rejected counts); off for peers that do not speak the Agent API
	FlushTimeout time.Duration // how long to wait for a flush answer

	// SyncFirst has the machine write back its dirty pages (sync(2)) before
	// each run, so that what earlier runs wrote does not compete with this
	// one: a million entries leave hundreds of MB behind, and writing them
	// back during the next run cost it up to a third of its speed here.
	SyncFirst bool

	PID   int    // process to measure; 0 = the spawned one, or the one listening on Addr
	Spawn string // command (run by /bin/sh) that starts the agent for each run; stopped after it

	VerifyFile    string        // the target's output file: wait for the entries to land in it
	VerifyCount   int64         // new lines expected in VerifyFile; 0 = the entries sent
	VerifyTimeout time.Duration // how long to wait for them after sending ends

	SweepConnections []int // run once per value (overrides Connections)
	SweepBatch       []int // run once per value (overrides Batch)

	JSONPath  string        // write the results as JSON here
	ChartPath string        // draw a PNG chart of a sweep here
	Interval  time.Duration // progress interval when progress is not a terminal
	Seed      uint64        // varies the generated payloads
	Label     string        // names the target in the results (e.g. "rsyslog")
}

// DefaultOptions is what ParseFlags starts from.
func DefaultOptions() Options {
	return Options{
		Addr:          client.DefaultAddr,
		Connections:   1,
		Batch:         1,
		PayloadBytes:  180, // a line of about 300 bytes
		Duration:      10 * time.Second,
		FlushAtEnd:    true,
		SyncFirst:     true,
		FlushTimeout:  60 * time.Second,
		VerifyTimeout: 120 * time.Second,
		Interval:      5 * time.Second,
		Seed:          1,
	}
}

// intList is a flag holding comma-separated positive integers.
type intList []int

func parseIntList(s string) (intList, error) {
	var out intList
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no values")
	}
	return out, nil
}

// sweepFlag collects --sweep connections=1,2,4 and --sweep batch=1,10,100
// (repeated, or joined with ';' or spaces in one value).
type sweepFlag struct{ conns, batch *[]int }

func (s sweepFlag) String() string { return "" }

func (s sweepFlag) Set(v string) error {
	for part := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ';' || r == ' ' }) {
		name, list, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("%q: use connections=1,2,4 or batch=1,10,100", part)
		}
		vals, err := parseIntList(list)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch strings.TrimSpace(name) {
		case "connections", "conns", "c":
			*s.conns = vals
		case "batch", "b":
			*s.batch = vals
		default:
			return fmt.Errorf("cannot sweep %q: only connections and batch", name)
		}
	}
	return nil
}

// ParseFlags reads the bench command's flags. It writes usage and errors to
// stderr, returns flag.ErrHelp for -h, and checks the options with Validate.
// LOGFLUX_AGENT_ADDR and LOGFLUX_SHARED_SECRET give the defaults of --addr
// and --secret.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	o := DefaultOptions()
	if a := os.Getenv("LOGFLUX_AGENT_ADDR"); a != "" {
		o.Addr = a
	}
	o.Secret = os.Getenv("LOGFLUX_SHARED_SECRET")

	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: logflux-bench [flags]")
		fmt.Fprintln(stderr, "\nSends a generated workload to an agent (or any NDJSON socket) and reports entries/s,")
		fmt.Fprintln(stderr, "MB/s, flush latency, end-to-end arrival, and the target's CPU seconds and peak RSS.")
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Addr, "addr", o.Addr, "target `address`: unix:///path or tcp://host:port (env LOGFLUX_AGENT_ADDR)")
	fs.StringVar(&o.Secret, "secret", o.Secret, "shared `secret` for TCP (env LOGFLUX_SHARED_SECRET)")
	fs.IntVar(&o.Connections, "connections", o.Connections, "concurrent `connections`")
	fs.IntVar(&o.Batch, "batch", o.Batch, "entries per message: 1 = single entries, up to 100 = batches")
	fs.IntVar(&o.PayloadBytes, "payload", o.PayloadBytes, "payload `bytes` per entry (the whole line is about this plus 120)")
	fs.Float64Var(&o.Rate, "rate", 0, "target `entries/s` across all connections, paced; 0 = as fast as possible")
	fs.Int64Var(&o.Count, "count", 0, "entries to send in all (ends the run; with --duration, whichever comes first)")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to send (default 10s when --count is not given)")
	fs.Int64Var(&o.FlushEvery, "flush-every", 0, "per connection, send a flush after every `N` entries and time its answer")
	fs.BoolVar(&o.FlushAtEnd, "flush-at-end", o.FlushAtEnd, "end each connection with a flush and report the agent's accepted/rejected counts (set false for peers)")
	fs.DurationVar(&o.FlushTimeout, "flush-timeout", o.FlushTimeout, "how long to wait for a flush answer")
	fs.BoolVar(&o.SyncFirst, "sync-first", o.SyncFirst, "write back the machine's dirty pages (sync) before each run, so that earlier runs' data does not slow this one")
	fs.IntVar(&o.PID, "pid", 0, "`pid` of the process to measure (default: the spawned one, or the one listening on --addr)")
	fs.StringVar(&o.Spawn, "spawn", "", "`command` (run with /bin/sh) that starts the target for each run; it is stopped with SIGTERM afterwards")
	fs.StringVar(&o.VerifyFile, "verify-file", "", "the target's output `file`: wait until the entries have landed in it (end-to-end)")
	fs.Int64Var(&o.VerifyCount, "verify-count", 0, "new lines expected in --verify-file (default: the entries sent)")
	fs.DurationVar(&o.VerifyTimeout, "verify-timeout", o.VerifyTimeout, "how long to wait for --verify-file after sending ends")
	fs.Var(sweepFlag{&o.SweepConnections, &o.SweepBatch}, "sweep", "run every combination: connections=1,2,4,8 and/or batch=1,10,100 (repeatable)")
	fs.StringVar(&o.JSONPath, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&o.ChartPath, "chart", "", "draw a PNG `file`: throughput against connections, one line per batch size")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "progress interval when standard error is not a terminal")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the generated payloads")
	fs.StringVar(&o.Label, "label", "", "name of the target in the report (default: the process name)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["count"] && !set["duration"] {
		o.Duration = 0
	}
	if !set["count"] && !set["duration"] {
		o.Duration = 10 * time.Second
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return o, err
	}
	return o, nil
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	network, _, err := client.ParseAddr(o.Addr)
	if err != nil {
		errs = append(errs, err)
	}
	if network == "tcp" && o.Secret == "" {
		bad("--addr %s is TCP: it needs --secret (or LOGFLUX_SHARED_SECRET)", o.Addr)
	}
	conns := append([]int{o.Connections}, o.SweepConnections...)
	if slices.Min(conns) < 1 || slices.Max(conns) > 4096 {
		bad("connections must be from 1 to 4096")
	}
	batches := append([]int{o.Batch}, o.SweepBatch...)
	if slices.Min(batches) < 1 || slices.Max(batches) > MaxBatch {
		bad("batch must be from 1 to %d entries", MaxBatch)
	}
	if o.PayloadBytes < 1 || o.PayloadBytes > MaxPayloadBytes {
		bad("payload must be from 1 to %d bytes", MaxPayloadBytes)
	} else if line := slices.Max(batches) * (o.PayloadBytes + lineOverhead); line > maxLineBytes {
		bad("a batch of %d payloads of %d bytes makes a %d-byte line, over the agent's 16 MiB limit", slices.Max(batches), o.PayloadBytes, line)
	}
	if o.Rate < 0 {
		bad("rate must not be negative")
	}
	if o.Count < 0 || o.Duration < 0 {
		bad("count and duration must not be negative")
	}
	if o.Count == 0 && o.Duration == 0 {
		bad("give --count or --duration")
	}
	if o.Count > 0 && o.Count < int64(slices.Max(conns)) {
		bad("count %d is smaller than the number of connections", o.Count)
	}
	if o.FlushEvery < 0 {
		bad("flush-every must not be negative")
	}
	if o.FlushTimeout <= 0 {
		bad("flush-timeout must be positive")
	}
	if o.PID < 0 {
		bad("pid must not be negative")
	}
	if o.PID > 0 && o.Spawn != "" {
		bad("give --pid or --spawn, not both")
	}
	if o.VerifyCount < 0 {
		bad("verify-count must not be negative")
	}
	if o.VerifyCount > 0 && o.VerifyFile == "" {
		bad("verify-count needs --verify-file")
	}
	if o.VerifyFile != "" && o.VerifyTimeout <= 0 {
		bad("verify-timeout must be positive")
	}
	if o.Interval <= 0 {
		bad("interval must be positive")
	}
	return errors.Join(errs...)
}

// Workloads expands a sweep into the workloads it runs, connections varying
// fastest; without a sweep it is the one workload.
func (o Options) Workloads() []Options {
	conns := o.SweepConnections
	if len(conns) == 0 {
		conns = []int{o.Connections}
	}
	batches := o.SweepBatch
	if len(batches) == 0 {
		batches = []int{o.Batch}
	}
	var out []Options
	for _, b := range batches {
		for _, c := range conns {
			w := o
			w.Connections, w.Batch = c, b
			w.SweepConnections, w.SweepBatch = nil, nil
			out = append(out, w)
		}
	}
	return out
}
