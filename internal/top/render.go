package top

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The metric names top reads (internal/metrics exports them).
const (
	ns             = "logflux_agent_"
	mAccepted      = ns + "entries_accepted_total"
	mRejected      = ns + "entries_rejected_total"
	mMessages      = ns + "messages_received_total"
	mBytesIn       = ns + "received_bytes_total"
	mErrors        = ns + "error_responses_total"
	mConnOpen      = ns + "connections_open"
	mConnTotal     = ns + "connections_total"
	mRefused       = ns + "connections_refused_total"
	mQueueEntries  = ns + "queue_entries"
	mQueueBytes    = ns + "queue_bytes"
	mQueueMax      = ns + "queue_max_bytes"
	mQueueAge      = ns + "queue_oldest_entry_age_seconds"
	mOutSent       = ns + "output_entries_sent_total"
	mOutFailed     = ns + "output_send_failures_total"
	mOutRetried    = ns + "output_entries_retried_total"
	mOutDead       = ns + "output_entries_dead_lettered_total"
	mOutLatency    = ns + "output_send_duration_seconds"
	mOutLast       = ns + "output_last_success_timestamp_seconds"
	mDrops         = ns + "entries_dropped_total"
	mInputAccepted = ns + "input_entries_accepted_total"
	mInputBytes    = ns + "input_received_bytes_total"
	mInputRejected = ns + "input_entries_rejected_total"
)

// View is what a frame is drawn from: the first sample (for averages), the
// one before (for the rates now) and the latest.
type View struct {
	Addr              string
	First, Prev, Last *Sample
}

// rate is metric's rate between two samples (0 without two).
func rate(a, b *Sample, metric string, match map[string]string) float64 {
	if a == nil || b == nil || !b.At.After(a.At) {
		return 0
	}
	d := b.Value(metric, match) - a.Value(metric, match)
	if d < 0 { // the agent restarted
		return 0
	}
	return d / b.At.Sub(a.At).Seconds()
}

func (v *View) now(metric string, match map[string]string) float64 {
	return rate(v.Prev, v.Last, metric, match)
}
func (v *View) avg(metric string, match map[string]string) float64 {
	return rate(v.First, v.Last, metric, match)
}

// Frame renders the view in width columns and at most height lines
// (height 0: no limit).
func (v *View) Frame(width, height int) []string {
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	s := v.Last
	state := s.Status.State
	if s.Status.Ready {
		state += ", ready"
	} else {
		state += ", NOT READY"
	}
	add("logflux-agent top — %s — %s — up %s — %s", v.Addr, state, s.Status.Uptime, s.At.Format("15:04:05"))
	for _, p := range s.Status.Problems {
		add("  ! %s", p)
	}
	add("")

	// Inputs: one row per input (foldInputs gathers each type's figures by
	// the input label); an agent that exports none shows its intake whole.
	add("%-24s %10s %10s %10s %10s %12s %10s", "INPUT", "entries/s", "avg/s", "bytes/s", "avg", "accepted", "rejected")
	inputs := s.LabelValues("input", mInputAccepted, mInputBytes, mInputRejected)
	if len(inputs) == 0 {
		add("%-24s %10s %10s %10s %10s %12.0f %10.0f", "all (unix, tcp)", num(v.now(mAccepted, nil)), num(v.avg(mAccepted, nil)),
			bytes(v.now(mBytesIn, nil)), bytes(v.avg(mBytesIn, nil)), s.Value(mAccepted, nil), s.Value(mRejected, nil))
	}
	sort.SliceStable(inputs, func(i, j int) bool {
		return v.now(mInputAccepted, map[string]string{"input": inputs[i]}) > v.now(mInputAccepted, map[string]string{"input": inputs[j]})
	})
	for _, in := range inputs {
		m := map[string]string{"input": in}
		add("%-24s %10s %10s %10s %10s %12.0f %10.0f", in, num(v.now(mInputAccepted, m)), num(v.avg(mInputAccepted, m)),
			bytes(v.now(mInputBytes, m)), bytes(v.avg(mInputBytes, m)), s.Value(mInputAccepted, m), s.Value(mInputRejected, m))
	}
	var clients []string
	for _, t := range s.LabelValues("transport", mConnOpen, mConnTotal) {
		m := map[string]string{"transport": t}
		clients = append(clients, fmt.Sprintf("%s %.0f open (%.0f since start)", t, s.Value(mConnOpen, m), s.Value(mConnTotal, m)))
	}
	add("clients: %s; refused %.0f", strings.Join(clients, ", "), s.Value(mRefused, nil))
	add("errors by code: %s", byLabel(v, mErrors, "code"))
	add("")

	qb, qmax := s.Value(mQueueBytes, nil), s.Value(mQueueMax, nil)
	fill := 0.0
	if qmax > 0 {
		fill = qb / qmax
	}
	add("QUEUE (%s) %s %5.1f%%  %s of %s  %.0f entries  oldest %s", s.Status.Queue.Type, bar(fill, 20), 100*fill,
		bytes(qb), bytes(qmax), s.Value(mQueueEntries, nil), seconds(s.Value(mQueueAge, nil)))
	add("")

	add("%-24s %10s %10s %12s %9s %9s %9s %9s %10s", "OUTPUT", "entries/s", "avg/s", "sent", "failed/s", "retried", "dead", "latency", "last ok")
	outs := s.LabelValues("output", mOutSent, mOutFailed)
	sort.SliceStable(outs, func(i, j int) bool {
		ri, rj := v.now(mOutSent, map[string]string{"output": outs[i]}), v.now(mOutSent, map[string]string{"output": outs[j]})
		return ri > rj || ri == rj && outs[i] < outs[j]
	})
	for _, o := range outs {
		m := map[string]string{"output": o}
		lat := "-"
		if sum, n := s.value(mOutLatency, m); n > 0 {
			// the mean over the last interval, else since start
			if psum, pn := v.Prev.value(mOutLatency, m); n > pn {
				sum, n = sum-psum, n-pn
			}
			lat = seconds(sum / n)
		}
		last := "never"
		if t := s.Value(mOutLast, m); t > 0 {
			last = seconds(s.At.Sub(time.Unix(0, int64(t*1e9))).Seconds()) + " ago"
		}
		add("%-24s %10s %10s %12.0f %9s %9.0f %9.0f %9s %10s", o, num(v.now(mOutSent, m)), num(v.avg(mOutSent, m)), s.Value(mOutSent, m),
			num(v.now(mOutFailed, m)), s.Value(mOutRetried, m), s.Value(mOutDead, m), lat, last)
	}
	add("")
	add("drops by reason: %s", byLabel(v, mDrops, "reason"))
	add("dead letters: %d entries, %s held, %d dropped", s.Status.DeadLetter.Entries, bytes(float64(s.Status.DeadLetter.Bytes)), s.Status.DeadLetter.Dropped)

	for i, l := range lines {
		if r := []rune(l); width > 0 && len(r) > width {
			lines[i] = string(r[:width])
		}
	}
	if height > 0 && len(lines) > height {
		lines = lines[:height]
	}
	return lines
}

// byLabel lists a counter's series by one label, largest first, with their
// rate now.
func byLabel(v *View, metric, label string) string {
	s := v.Last
	vals := s.LabelValues(label, metric)
	sort.SliceStable(vals, func(i, j int) bool {
		return s.Value(metric, map[string]string{label: vals[i]}) > s.Value(metric, map[string]string{label: vals[j]})
	})
	var parts []string
	for _, x := range vals {
		m := map[string]string{label: x}
		if n := s.Value(metric, m); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f (%s/s)", x, n, num(v.now(metric, m))))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func bar(fill float64, width int) string {
	n := int(fill*float64(width) + 0.5)
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func num(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	case x >= 10 || x == 0:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.1f", x)
	}
}

func bytes(x float64) string {
	switch {
	case x >= 1<<30:
		return fmt.Sprintf("%.1fGiB", x/(1<<30))
	case x >= 1<<20:
		return fmt.Sprintf("%.1fMiB", x/(1<<20))
	case x >= 1<<10:
		return fmt.Sprintf("%.1fKiB", x/(1<<10))
	default:
		return fmt.Sprintf("%.0fB", x)
	}
}

func seconds(x float64) string {
	switch {
	case x == 0:
		return "0s"
	case x < 1e-3:
		return fmt.Sprintf("%.0fµs", x*1e6)
	case x < 1:
		return fmt.Sprintf("%.1fms", x*1e3)
	default:
		return time.Duration(x * float64(time.Second)).Round(100 * time.Millisecond).String()
	}
}
