package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/logflux/agent/internal/client"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	addr    string
	secret  string
	timeout time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet, env Env) {
	addr := env.Getenv("LOGFLUX_AGENT_ADDR")
	if addr == "" {
		addr = client.DefaultAddr
	}
	fs.StringVar(&c.addr, "addr", addr, "agent `address`: unix:///path or tcp://host:port (env LOGFLUX_AGENT_ADDR)")
	fs.StringVar(&c.secret, "secret", env.Getenv("LOGFLUX_SHARED_SECRET"), "shared `secret` for TCP (env LOGFLUX_SHARED_SECRET)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the agent")
}

func ping(env Env, args []string) int {
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	setUsage(fs, "Usage: logflux-agent ping [flags]\n\nChecks that an agent answers, and prints how long it took.")
	var cf clientFlags
	cf.register(fs, env)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	start := time.Now()
	c, err := client.Dial(cf.addr, cf.secret, cf.timeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent ping: %v\n", err)
		return 1
	}
	defer c.Close()
	if err := c.Ping(cf.timeout); err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent ping: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "pong from %s in %s\n", cf.addr, time.Since(start).Round(time.Microsecond))
	return 0
}

var levelNames = map[string]int{
	"emergency": 1, "emerg": 1, "alert": 2, "critical": 3, "crit": 3, "error": 4, "err": 4,
	"warning": 5, "warn": 5, "notice": 6, "info": 7, "debug": 8,
}

var typeNames = map[string]int{"log": 1, "metric": 2, "trace": 3, "event": 4, "audit": 5}

func parseNamed(s string, names map[string]int, max int) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > max {
			return 0, fmt.Errorf("%d is not between 1 and %d", n, max)
		}
		return n, nil
	}
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not a known name or a number from 1 to %d", s, max)
}

type metaFlag map[string]string

func (m metaFlag) String() string { return "" }
func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: metadata is key=value", s)
	}
	m[k] = v
	return nil
}

// item is one line sent, remembered to match the agent's errors to input.
type item struct {
	lines   []int // input line of each entry (0: none)
	raw     bool  // sent as read: a batch's indexes are its own
	entries int
}

func send(env Env, args []string) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, `Usage: logflux-agent send [flags] [message ...]

With a message, sends one entry made from the flags and the words of the
message. Without one, reads NDJSON entries (one JSON object per line, in the
Agent API's format) from --file or standard input; with --lines, each input
line is the payload of one entry instead. Ends with a flush, prints every
error the agent answers, and exits 1 if any entry was rejected.

Flags:`)
		fs.PrintDefaults()
	}
	var cf clientFlags
	cf.register(fs, env)
	source := fs.String("source", "cli", "entry `source`")
	level := fs.String("level", "info", "log `level`: emergency, alert, critical, error, warning, notice, info, debug or 1-8")
	etype := fs.String("type", "log", "entry `type`: log, metric, trace, event, audit or 1-5")
	ptype := fs.String("payload-type", "", "payload `type` such as generic_json (default generic)")
	ts := fs.String("timestamp", "", "RFC 3339 `time` of the entry (default: when the agent receives it)")
	meta := metaFlag{}
	fs.Var(meta, "meta", "metadata `key=value` (repeatable)")
	file := fs.String("file", "", "read NDJSON entries from `file` (- for standard input)")
	lines := fs.Bool("lines", false, "read plain text lines, one entry each, from --file or standard input")
	batch := fs.Int("batch", 100, "entries per batch message when reading many")
	quiet := fs.Bool("q", false, "print nothing but errors")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	lvl, err := parseNamed(*level, levelNames, 8)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent send: --level: %v\n", err)
		return 2
	}
	typ, err := parseNamed(*etype, typeNames, 5)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent send: --type: %v\n", err)
		return 2
	}
	if *batch < 1 {
		*batch = 1
	}
	makeEntry := func(payload string) map[string]any {
		e := map[string]any{"payload": payload, "entryType": typ, "source": *source, "logLevel": lvl}
		if *ptype != "" {
			e["payloadType"] = *ptype
		}
		if *ts != "" {
			e["timestamp"] = *ts
		}
		if len(meta) > 0 {
			e["metadata"] = meta
		}
		return e
	}

	c, err := client.Dial(cf.addr, cf.secret, cf.timeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent send: %v\n", err)
		return 1
	}
	defer c.Close()
	s := &sender{c: c, env: env, batchSize: *batch, timeout: cf.timeout}
	s.start()

	switch {
	case fs.NArg() > 0:
		if *file != "" {
			fmt.Fprintln(env.Stderr, "logflux-agent send: give either a message or --file, not both")
			return 2
		}
		line, _ := json.Marshal(makeEntry(strings.Join(fs.Args(), " ")))
		s.addEntry(line, 0)
	default:
		var in io.Reader = env.Stdin
		if *file != "" && *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				fmt.Fprintf(env.Stderr, "logflux-agent send: %v\n", err)
				return 1
			}
			defer f.Close()
			in = f
		}
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 32<<20)
		n := 0
		for sc.Scan() {
			n++
			text := sc.Bytes()
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			if *lines {
				line, _ := json.Marshal(makeEntry(string(text)))
				s.addEntry(line, n)
				continue
			}
			s.addNDJSON(text, n)
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(env.Stderr, "logflux-agent send: reading input: %v\n", err)
			s.failed = true
		}
	}
	accepted, rejected, err := s.finish()
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent send: %v\n", err)
		return 1
	}
	if !*quiet || rejected > 0 {
		fmt.Fprintf(env.Stderr, "%d accepted, %d rejected (flushed to %s)\n", accepted, rejected, cf.addr)
	}
	if rejected > 0 || s.failed {
		return 1
	}
	return 0
}

// sender pipelines messages to the agent, each followed by a ping, and reads
// the answers on another goroutine: the errors that come before the n-th
// pong belong to the n-th message, so they can be traced to input lines.
type sender struct {
	c         *client.Conn
	env       Env
	batchSize int
	timeout   time.Duration

	batch   [][]byte
	bLines  []int
	pending chan item
	done    chan error
	failed  bool
	errs    int
}

func (s *sender) start() {
	s.pending = make(chan item, 1<<16)
	s.done = make(chan error, 1)
	go func() { s.done <- s.reading() }()
}

// addEntry queues one entry for a batch; line is its input line (0: none).
func (s *sender) addEntry(entry []byte, line int) {
	s.batch = append(s.batch, append([]byte(nil), entry...))
	s.bLines = append(s.bLines, line)
	if len(s.batch) >= s.batchSize {
		s.sendBatch()
	}
}

// addNDJSON sends an input line: entries go into batches; anything else
// (control messages, batches, lines that are not JSON objects) is sent as
// it is, so the agent judges it and its answer is printed.
func (s *sender) addNDJSON(text []byte, line int) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(text, &probe) == nil {
		_, isAction := probe["action"]
		_, isBatch := probe["entries"]
		if !isAction && !isBatch {
			s.addEntry(text, line)
			return
		}
	}
	s.sendBatch()
	s.write(text, item{lines: []int{line}, raw: true, entries: 1})
}

func (s *sender) sendBatch() {
	if len(s.batch) == 0 {
		return
	}
	var msg []byte
	if len(s.batch) == 1 {
		msg = s.batch[0]
	} else {
		msg = append(msg, `{"version":"1.0","entries":[`...)
		for i, e := range s.batch {
			if i > 0 {
				msg = append(msg, ',')
			}
			msg = append(msg, e...)
		}
		msg = append(msg, "]}"...)
	}
	s.write(msg, item{lines: append([]int(nil), s.bLines...), entries: len(s.batch)})
	s.batch, s.bLines = s.batch[:0], s.bLines[:0]
}

func (s *sender) write(msg []byte, it item) {
	if s.failed {
		return
	}
	s.pending <- it
	err := s.c.Write(msg)
	if err == nil {
		err = s.c.Write([]byte(`{"action":"ping"}`))
	}
	if err != nil {
		fmt.Fprintf(s.env.Stderr, "logflux-agent send: %v\n", err)
		s.failed = true
	}
}

// reading matches answers to messages until the pending channel closes.
func (s *sender) reading() error {
	for it := range s.pending {
		for {
			resp, err := s.c.Read(0)
			if err != nil {
				return err
			}
			if resp.Status == "pong" {
				break
			}
			s.report(resp, it)
		}
	}
	return nil
}

func (s *sender) report(resp *client.Response, it item) {
	s.errs++
	where := func(idx int, hasIdx bool) string {
		switch {
		case it.raw && it.lines[0] > 0 && hasIdx:
			return fmt.Sprintf("line %d: entry %d: ", it.lines[0], idx)
		case it.raw && it.lines[0] > 0:
			return fmt.Sprintf("line %d: ", it.lines[0])
		case idx < len(it.lines) && it.lines[idx] > 0:
			return fmt.Sprintf("line %d: ", it.lines[idx])
		}
		return ""
	}
	if len(resp.Errors) == 0 {
		fmt.Fprintf(s.env.Stderr, "%s%s: %s\n", where(0, false), resp.Code, resp.Message)
		return
	}
	for _, fe := range resp.Errors {
		idx := 0
		if fe.Index != nil {
			idx = *fe.Index
		}
		field := fe.Field
		if field == "" {
			field = "entry"
		}
		fmt.Fprintf(s.env.Stderr, "%s%s: %s %s\n", where(idx, fe.Index != nil), resp.Code, field, fe.Message)
	}
}

// finish sends what is left, waits for every answer, and flushes.
func (s *sender) finish() (accepted, rejected int64, err error) {
	s.sendBatch()
	if err := s.c.Flush(); err != nil {
		return 0, 0, err
	}
	close(s.pending)
	if err := <-s.done; err != nil {
		return 0, 0, err
	}
	resp, err := s.c.Request([]byte(`{"version":"1.0","action":"flush"}`), s.timeout)
	if err != nil {
		return 0, 0, err
	}
	if resp.Status != "success" || resp.Accepted == nil || resp.Rejected == nil {
		return 0, 0, fmt.Errorf("flush failed: %s", resp.Raw)
	}
	return *resp.Accepted, *resp.Rejected, nil
}
