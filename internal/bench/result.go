package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one run measured. Times are seconds from the moment the
// first byte was sent.
type Result struct {
	Label        string    `json:"label"`
	Addr         string    `json:"addr"`
	Transport    string    `json:"transport"`
	Connections  int       `json:"connections"`
	Batch        int       `json:"batch"`
	PayloadBytes int       `json:"payload_bytes"`
	TargetRate   float64   `json:"target_rate,omitempty"` // entries/s asked for; 0 = as fast as possible
	Started      time.Time `json:"started"`

	Entries       int64   `json:"entries"`         // entries sent
	Messages      int64   `json:"messages"`        // lines sent (single entries or batches), flushes not counted
	Bytes         int64   `json:"bytes"`           // bytes of those lines, newlines included
	BytesPerEntry float64 `json:"bytes_per_entry"` // Bytes / Entries
	SendSeconds   float64 `json:"send_seconds"`    // until the last line was written
	EntriesPerSec float64 `json:"entries_per_sec"` // Entries / SendSeconds
	MBPerSec      float64 `json:"mb_per_sec"`      // Bytes / 10⁶ / SendSeconds

	// From each connection's closing flush (absent without --flush-at-end).
	Accepted      *int64  `json:"accepted,omitempty"`
	Rejected      *int64  `json:"rejected,omitempty"`
	AcceptSeconds float64 `json:"accept_seconds,omitempty"` // until the last closing flush was answered

	Errors map[string]int64 `json:"errors,omitempty"`        // error answers by code
	Flush  *Latency         `json:"flush_latency,omitempty"` // the --flush-every flushes
	Verify *Verify          `json:"verify,omitempty"`

	Target    *Usage `json:"target,omitempty"` // the agent or peer
	Generator Usage  `json:"generator"`        // this process

	Failures []string `json:"failures,omitempty"`
}

// Verify is the end-to-end check: the entries counted as lines in the
// target's output file.
type Verify struct {
	File          string  `json:"file"`
	Expected      int64   `json:"expected"`
	Arrived       int64   `json:"arrived"`
	Complete      bool    `json:"complete"`
	Seconds       float64 `json:"seconds"`         // until the last expected line was seen (or the last line, if incomplete)
	EntriesPerSec float64 `json:"entries_per_sec"` // end-to-end throughput
}

// Usage is what a process used during the run.
type Usage struct {
	PID                 int     `json:"pid"`
	Name                string  `json:"name"`
	CPUSeconds          float64 `json:"cpu_seconds"`    // user + system, all threads, during the run
	SystemSeconds       float64 `json:"system_seconds"` // of which in the kernel (system calls, page faults)
	PeakRSSBytes        int64   `json:"peak_rss_bytes"`
	PeakSinceStart      bool    `json:"peak_since_start,omitempty"` // VmHWM could not be reset: the peak may predate the run
	InProcess           bool    `json:"in_process,omitempty"`       // the target is the bench process itself
	EntriesPerCPUSecond float64 `json:"entries_per_cpu_second,omitempty"`
}

// delivered is the entries the target took: landed if checked, else
// accepted if known, else sent.
func (r *Result) delivered() int64 {
	switch {
	case r.Verify != nil:
		return min(r.Verify.Arrived, r.Verify.Expected)
	case r.Accepted != nil:
		return *r.Accepted
	default:
		return r.Entries
	}
}

// Throughput is the run's headline entries/s: end to end when the output was
// checked, else until the closing flushes were answered, else as sent.
func (r *Result) Throughput() float64 {
	switch {
	case r.Verify != nil && r.Verify.EntriesPerSec > 0:
		return r.Verify.EntriesPerSec
	case r.Accepted != nil && r.AcceptSeconds > 0:
		return float64(*r.Accepted) / r.AcceptSeconds
	default:
		return r.EntriesPerSec
	}
}

// throughputKind names what Throughput measured.
func (r *Result) throughputKind() string {
	switch {
	case r.Verify != nil && r.Verify.EntriesPerSec > 0:
		return "end to end"
	case r.Accepted != nil && r.AcceptSeconds > 0:
		return "accepted"
	default:
		return "sent"
	}
}

// usageMeter measures a process between start and finish.
type usageMeter struct {
	u          Usage
	cpu0, sys0 float64
}

func newUsageMeter(pid int) *usageMeter {
	m := &usageMeter{u: Usage{PID: pid}}
	if st, err := ReadProcStat(pid); err == nil {
		m.u.Name = st.Name
	}
	return m
}

func (m *usageMeter) start() {
	m.u.PeakSinceStart = ResetPeakRSS(m.u.PID) != nil
	if st, err := ReadProcStat(m.u.PID); err == nil {
		m.cpu0, m.sys0 = st.CPUSeconds, st.SystemSeconds
	}
}

func (m *usageMeter) finish() error {
	st, err := ReadProcStat(m.u.PID)
	if err != nil {
		return err
	}
	m.u.CPUSeconds = st.CPUSeconds - m.cpu0
	m.u.SystemSeconds = st.SystemSeconds - m.sys0
	peak, err := ReadPeakRSS(m.u.PID)
	if err != nil {
		return err
	}
	m.u.PeakRSSBytes = peak
	return nil
}

// Sweep runs every workload of opts (see Options.Workloads) in turn and
// returns the results so far with the first error.
func Sweep(ctx context.Context, opts Options, progress io.Writer) ([]Result, error) {
	var out []Result
	ws := opts.Workloads()
	for i, w := range ws {
		if len(ws) > 1 && progress != nil {
			fmt.Fprintf(progress, "bench: run %d of %d: %d connections, batch %d\n", i+1, len(ws), w.Connections, w.Batch)
		}
		r, err := Run(ctx, w, progress)
		if r != nil {
			out = append(out, *r)
		}
		if err != nil && len(ws) > 1 {
			return out, fmt.Errorf("%d connections, batch %d: %w", w.Connections, w.Batch, err)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Execute is the whole bench command: it runs the workload or sweep, prints
// the report on stdout, and writes --json and --chart if asked, even after
// a failed run (whatever was measured).
func Execute(ctx context.Context, opts Options, stdout, progress io.Writer) error {
	results, err := Sweep(ctx, opts, progress)
	WriteReport(stdout, results)
	var errs []error
	errs = append(errs, err)
	if opts.JSONPath != "" && len(results) > 0 {
		errs = append(errs, WriteJSON(opts.JSONPath, results))
	}
	if opts.ChartPath != "" && len(results) > 0 {
		errs = append(errs, WriteChart(opts.ChartPath, results))
	}
	return errors.Join(errs...)
}

// WriteJSON writes results as an indented JSON array.
func WriteJSON(path string, results []Result) error {
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// WriteReport prints each result, and a table when there are several.
func WriteReport(w io.Writer, results []Result) {
	for i := range results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		results[i].writeText(w)
	}
	if len(results) > 1 {
		fmt.Fprintln(w)
		writeTable(w, results)
	}
}

func (r *Result) writeText(w io.Writer) {
	p := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-9s "+format+"\n", append([]any{label}, a...)...)
	}
	name := r.Label
	if name == "" {
		name = "target"
	}
	if r.Target != nil {
		name += fmt.Sprintf(" (pid %d)", r.Target.PID)
	}
	p("target", "%s at %s", name, r.Addr)
	kind := "single entries"
	if r.Batch > 1 {
		kind = fmt.Sprintf("batches of %d", r.Batch)
	}
	pace := "as fast as possible"
	if r.TargetRate > 0 {
		pace = fmt.Sprintf("paced at %s entries/s", group(int64(r.TargetRate)))
	}
	p("workload", "%d connection%s, %s, %d-byte payloads (%.0f bytes a line per entry), %s",
		r.Connections, plural(r.Connections), kind, r.PayloadBytes, r.BytesPerEntry, pace)
	p("sent", "%s entries in %.3f s: %s entries/s, %.1f MB/s", group(r.Entries), r.SendSeconds, group(int64(r.EntriesPerSec)), r.MBPerSec)
	if r.Accepted != nil {
		p("accepted", "%s, rejected %s; the closing flushes answered %.3f s after the start (%s entries/s)",
			group(*r.Accepted), group(*r.Rejected), r.AcceptSeconds, group(int64(float64(*r.Accepted)/max(r.AcceptSeconds, 1e-9))))
	}
	if len(r.Errors) > 0 {
		var parts []string
		for code, n := range r.Errors {
			parts = append(parts, fmt.Sprintf("%s %s", code, group(n)))
		}
		p("errors", "%s", strings.Join(parts, ", "))
	}
	if f := r.Flush; f != nil {
		p("flush", "%d flushes: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", f.Count, f.P50MS, f.P90MS, f.P99MS, f.MaxMS)
	}
	if v := r.Verify; v != nil {
		state := "all"
		if !v.Complete {
			state = "ONLY " + group(v.Arrived) + " of"
		}
		p("landed", "%s %s lines in %s after %.3f s: %s entries/s end to end", state, group(v.Expected), v.File, v.Seconds, group(int64(v.EntriesPerSec)))
	}
	if t := r.Target; t != nil {
		note := ""
		if t.PeakSinceStart {
			note = " (since it started)"
		}
		if t.InProcess {
			note += " (in this process: includes the generator)"
		}
		per := "too little CPU time to divide by"
		if t.EntriesPerCPUSecond > 0 {
			per = group(int64(t.EntriesPerCPUSecond)) + " entries per CPU-second"
		}
		who := t.Name
		if who == "" {
			who = "target"
		}
		p(who, "CPU %.2f s%s (%s), peak RSS %.1f MiB%s", t.CPUSeconds, split(t), per, mib(t.PeakRSSBytes), note)
	}
	p("bench", "CPU %.2f s%s, peak RSS %.1f MiB", r.Generator.CPUSeconds, split(&r.Generator), mib(r.Generator.PeakRSSBytes))
	for _, f := range r.Failures {
		p("FAILED", "%s", f)
	}
}

func writeTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "connections\tbatch\tsent/s\tMB/s\tthroughput/s\tkind\ttarget CPU s\tper CPU-s\tpeak RSS MiB\tflush p99 ms\t")
	for i := range results {
		r := &results[i]
		cpu, per, rss, p99 := "-", "-", "-", "-"
		if r.Target != nil {
			cpu = fmt.Sprintf("%.2f", r.Target.CPUSeconds)
			per = group(int64(r.Target.EntriesPerCPUSecond))
			rss = fmt.Sprintf("%.1f", mib(r.Target.PeakRSSBytes))
		}
		if r.Flush != nil {
			p99 = fmt.Sprintf("%.2f", r.Flush.P99MS)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Connections, r.Batch, group(int64(r.EntriesPerSec)), r.MBPerSec,
			group(int64(r.Throughput())), r.throughputKind(), cpu, per, rss, p99)
	}
	tw.Flush()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// group writes n with thousands separators: 1234567 → 1,234,567.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// split says how much of a process's CPU time was the kernel's.
func split(u *Usage) string {
	if u.CPUSeconds <= 0 {
		return ""
	}
	return fmt.Sprintf(", %.2f s of it in the kernel", u.SystemSeconds)
}
