package cli

import (
	"bufio"
	"fmt"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/redact"
)

// redactTest shows what the configured redaction makes of entries read
// from standard input, without a running agent.
func redactTest(env Env, args []string) int {
	f := newAgentFlags("redact-test", env)
	source := f.fs.String("source", "redact-test", "the source of entries given as plain lines")
	f.fs.Usage = func() {
		fmt.Fprintln(env.Stderr, `Usage: logflux-agent redact-test --config FILE [--source NAME] < input

Reads entries from standard input, one a line: an NDJSON entry or batch as a
client sends it, or any other line as the payload of a log entry. Prints, for
each entry, a JSON line: the rules that fired, whether it was dropped, and the
entry as it would be written.`)
		f.fs.PrintDefaults()
	}
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := f.loadValid(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "logflux-agent redact-test: the configuration is not valid:")
		printProblems(env.Stderr, err)
		return 2
	}
	r, err := redact.New(cfg.Redact, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent redact-test: %v\n", err)
		return 2
	}
	if r == nil {
		fmt.Fprintln(env.Stderr, "logflux-agent redact-test: the configuration has no redact section (or it does nothing); entries pass unchanged")
	}
	var dec protocol.Decoder
	sc := bufio.NewScanner(env.Stdin)
	sc.Buffer(make([]byte, 64<<10), int(cfg.Limits.MaxLineBytes))
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	status := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var entries []protocol.Entry
		if len(line) > 0 && line[0] == '{' {
			msg, derr := dec.Decode(line)
			if derr != nil {
				fmt.Fprintf(env.Stderr, "line %d: %v\n", n, derr)
				status = 1
			}
			if msg == nil {
				continue
			}
			entries = msg.Entries
		} else if len(line) > 0 {
			entries = []protocol.Entry{{Payload: line, Source: []byte(*source), EntryType: 1, LogLevel: 6}}
		}
		for i := range entries {
			e := &entries[i]
			var fired []string
			drop := false
			if r != nil {
				fired, drop = r.Apply(e)
			}
			b := []byte(`{"fired":[`)
			for k, name := range fired {
				if k > 0 {
					b = append(b, ',')
				}
				b = protocol.AppendString(b, name)
			}
			b = fmt.Appendf(b, `],"dropped":%t`, drop)
			if !drop {
				b = append(b, `,"entry":`...)
				b = protocol.AppendRecord(b, e, time.Now())
			}
			out.Write(append(b, "}\n"...))
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(env.Stderr, "logflux-agent redact-test: reading input: %v\n", err)
		return 1
	}
	return status
}
