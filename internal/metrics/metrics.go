// Package metrics exposes the agent's counters in the Prometheus format, reading them only when scraped so that the hot path pays nothing.
package metrics

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/redact"
)

// Output is one output's name and counters.
type Output struct {
	Name     string
	Counters *output.Counters
}

// Component is one input's or output's own metrics.
type Component struct {
	Kind    string // "input" or "output": the metric prefix and label name
	Type    string // its type, part of the metric name
	Name    string // its name, the label value
	Metrics *component.Metrics
}

// Sources are what the collector reads at scrape time. Functions let the
// pipeline change (on reload) without re-registering.
type Sources struct {
	Intake  func() *intake.Counters
	Queue   func() queue.Stats
	Outputs func() []Output
	Reloads *Reloads
	Drops   func() map[string]int64 // extra drops by reason (dead-letter overflow, …)
	// Components are the inputs' and outputs' own metrics, exported as
	// logflux_agent_<kind>_<type>_<name>[_total]{<kind>="<component name>"}.
	Components func() []Component
	Redact     func() redact.Stats
	// Version is the agent's version, exported with the Go version as
	// logflux_agent_build_info (omitted when empty).
	Version string
	// Admin is the admin server's listener: how many attempts to listen
	// failed and since when it listens (zero: not yet). Nil: not exported.
	Admin func() (failures int64, since time.Time)
}

// Reloads counts configuration reloads by outcome.
type Reloads struct {
	Success, Failure atomic.Int64
	LastSuccess      atomic.Int64 // Unix seconds
}

const ns = "logflux_agent_"

var (
	dConnOpen     = prometheus.NewDesc(ns+"connections_open", "Client connections open now.", []string{"transport"}, nil)
	dConnTotal    = prometheus.NewDesc(ns+"connections_total", "Client connections accepted since start.", []string{"transport"}, nil)
	dConnRefused  = prometheus.NewDesc(ns+"connections_refused_total", "Connections refused, by reason.", []string{"reason"}, nil)
	dAuthFail     = prometheus.NewDesc(ns+"auth_failures_total", "Failed TCP authentications.", nil, nil)
	dMessages     = prometheus.NewDesc(ns+"messages_received_total", "Message lines read from clients.", nil, nil)
	dBytesIn      = prometheus.NewDesc(ns+"received_bytes_total", "Bytes read from clients.", nil, nil)
	dAccepted     = prometheus.NewDesc(ns+"entries_accepted_total", "Entries accepted into the queue.", nil, nil)
	dRejected     = prometheus.NewDesc(ns+"entries_rejected_total", "Entries refused (a line that could not be read counts as one).", nil, nil)
	dErrors       = prometheus.NewDesc(ns+"error_responses_total", "Error responses sent to clients, by error code.", []string{"code"}, nil)
	dQueueEntries = prometheus.NewDesc(ns+"queue_entries", "Entries in the queue not yet delivered to every output.", nil, nil)
	dQueueBytes   = prometheus.NewDesc(ns+"queue_bytes", "Bytes in the queue, counted against queue.max_bytes.", nil, nil)
	dQueueMax     = prometheus.NewDesc(ns+"queue_max_bytes", "The queue's byte cap.", nil, nil)
	dQueueAge     = prometheus.NewDesc(ns+"queue_oldest_entry_age_seconds", "Age of the oldest entry waiting in the queue (0 when empty).", nil, nil)
	dOutSent      = prometheus.NewDesc(ns+"output_entries_sent_total", "Entries delivered, by output.", []string{"output"}, nil)
	dOutFailed    = prometheus.NewDesc(ns+"output_send_failures_total", "Failed delivery attempts, by output and reason (permanent, throttled, timeout, transient).", []string{"output", "reason"}, nil)
	dOutFiltered  = prometheus.NewDesc(ns+"output_entries_filtered_total", "Entries an output's match passed over, by output.", []string{"output"}, nil)
	dOutRetried   = prometheus.NewDesc(ns+"output_entries_retried_total", "Entries sent again after a failure, by output.", []string{"output"}, nil)
	dOutDead      = prometheus.NewDesc(ns+"output_entries_dead_lettered_total", "Entries refused permanently by an output and moved to the dead-letter store.", []string{"output"}, nil)
	dOutLatency   = prometheus.NewDesc(ns+"output_send_duration_seconds", "Time of each write that delivered entries (encoding, sending and waiting for the acknowledgement), by output.", []string{"output"}, nil)
	dOutBatch     = prometheus.NewDesc(ns+"output_batch_entries", "Entries delivered per write (one batch, or the part of one a backend took), by output.", []string{"output"}, nil)
	dOutLast      = prometheus.NewDesc(ns+"output_last_success_timestamp_seconds", "When an output last delivered (Unix time; 0: never).", []string{"output"}, nil)
	dDrops        = prometheus.NewDesc(ns+"entries_dropped_total", "Entries not delivered to an output, by reason.", []string{"reason"}, nil)
	dReloads      = prometheus.NewDesc(ns+"reloads_total", "Configuration reloads, by outcome.", []string{"outcome"}, nil)
	dReloadLast   = prometheus.NewDesc(ns+"reload_last_success_timestamp_seconds", "When the configuration was last (re)loaded successfully.", nil, nil)
	dRedactMatch  = prometheus.NewDesc(ns+"redact_matches_total", "Matches redacted, by rule (a metadata key masked or dropped counts one).", []string{"rule"}, nil)
	dRedactDrop   = prometheus.NewDesc(ns+"redact_dropped_entries_total", "Entries accepted and dropped by a drop_entry rule, by rule.", []string{"rule"}, nil)
	dRedactTime   = prometheus.NewDesc(ns+"redact_seconds_total", "Time spent redacting, estimated by timing one call in 32.", nil, nil)
	dRedactCut    = prometheus.NewDesc(ns+"redact_truncated_total", "Redacted values cut to stay within the protocol's limits.", nil, nil)
	dBuildInfo    = prometheus.NewDesc(ns+"build_info", "Always 1; the agent's version and the Go version that built it.", []string{"version", "goversion"}, nil)
	dAdminFails   = prometheus.NewDesc(ns+"admin_listen_failures_total", "Attempts to listen on admin.address that failed (it was in use), before the admin server started.", nil, nil)
	dAdminSince   = prometheus.NewDesc(ns+"admin_listening_since_timestamp_seconds", "When the admin server started listening (Unix time); later than process_start_time_seconds when its address was in use at start.", nil, nil)
)

type collector struct{ src Sources }

// NewRegistry returns a registry with the agent's metrics plus the standard
// Go runtime and process metrics.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: src})
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConnOpen, dConnTotal, dConnRefused, dAuthFail, dMessages, dBytesIn, dAccepted, dRejected,
		dErrors, dQueueEntries, dQueueBytes, dQueueMax, dQueueAge, dOutSent, dOutFailed, dOutRetried, dOutFiltered, dOutDead, dOutLatency,
		dOutBatch, dOutLast, dDrops, dReloads, dReloadLast, dRedactMatch, dRedactDrop, dRedactTime, dRedactCut, dBuildInfo, dAdminFails, dAdminSince} {
		ch <- d
	}
	for _, d := range limitDescs {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v int64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h output.HistogramSnapshot, labels ...string) {
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, h.Buckets, labels...)
}

func (c *collector) intake() *intake.Counters {
	if c.src.Intake == nil {
		return nil
	}
	return c.src.Intake()
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	drops := map[string]int64{}
	if in := c.intake(); in != nil {
		gauge(ch, dConnOpen, float64(in.UnixOpen.Load()), "unix")
		gauge(ch, dConnOpen, float64(in.TCPOpen.Load()), "tcp")
		counter(ch, dConnTotal, in.UnixTotal.Load(), "unix")
		counter(ch, dConnTotal, in.TCPTotal.Load(), "tcp")
		counter(ch, dConnRefused, in.Refused.Load(), "max_connections")
		counter(ch, dConnRefused, in.RefusedPeer.Load(), "max_connections_per_peer")
		counter(ch, dConnRefused, in.Throttled.Load(), "auth_throttled")
		counter(ch, dAuthFail, in.AuthFailures.Load())
		counter(ch, dMessages, in.Messages.Load())
		counter(ch, dBytesIn, in.BytesIn.Load())
		counter(ch, dAccepted, in.Accepted.Load())
		counter(ch, dRejected, in.Rejected.Load())
		for code, n := range in.Errors() {
			counter(ch, dErrors, n, code)
		}
		drops["queue_full"] = in.QueueFull.Load()
		collectLimits(ch, in)
	}
	if c.src.Queue != nil {
		st := c.src.Queue()
		gauge(ch, dQueueEntries, float64(st.Records))
		gauge(ch, dQueueBytes, float64(st.Bytes))
		gauge(ch, dQueueMax, float64(st.MaxBytes))
		age := 0.0
		if !st.Oldest.IsZero() {
			age = time.Since(st.Oldest).Seconds()
		}
		gauge(ch, dQueueAge, age)
	}
	if c.src.Outputs != nil {
		var dead int64
		for _, o := range c.src.Outputs() {
			oc := o.Counters
			counter(ch, dOutSent, oc.Sent.Load(), o.Name)
			for r, reason := range output.FailureReasons {
				counter(ch, dOutFailed, oc.Failures(output.FailureReason(r)), o.Name, reason)
			}
			counter(ch, dOutRetried, oc.Retried.Load(), o.Name)
			counter(ch, dOutFiltered, oc.Filtered.Load(), o.Name)
			counter(ch, dOutDead, oc.DeadLetter.Load(), o.Name)
			dead += oc.DeadLetter.Load()
			histogram(ch, dOutLatency, oc.SendSeconds(), o.Name)
			histogram(ch, dOutBatch, oc.BatchEntries(), o.Name)
			last := 0.0
			if ns := oc.LastSend.Load(); ns > 0 {
				last = float64(ns) / 1e9
			}
			gauge(ch, dOutLast, last, o.Name)
		}
		drops["dead_letter"] = dead
	}
	if c.src.Drops != nil {
		for reason, n := range c.src.Drops() {
			drops[reason] += n
		}
	}
	if c.src.Redact != nil {
		st := c.src.Redact()
		for _, r := range st.Rules {
			counter(ch, dRedactMatch, r.Matches, r.Rule)
			counter(ch, dRedactDrop, r.Drops, r.Rule)
			drops["redact"] += r.Drops
		}
		ch <- prometheus.MustNewConstMetric(dRedactTime, prometheus.CounterValue, st.Seconds)
		counter(ch, dRedactCut, st.Truncated)
	}
	for reason, n := range drops {
		counter(ch, dDrops, n, reason)
	}
	if c.src.Components != nil {
		for _, comp := range c.src.Components() {
			for _, smp := range comp.Metrics.Samples() {
				name := ns + comp.Kind + "_" + comp.Type + "_" + smp.Name
				vt := prometheus.GaugeValue
				if smp.Kind == component.Counter {
					name += "_total"
					vt = prometheus.CounterValue
				}
				d := prometheus.NewDesc(name, smp.Help, []string{comp.Kind}, nil)
				ch <- prometheus.MustNewConstMetric(d, vt, float64(smp.Value), comp.Name)
			}
		}
	}
	if r := c.src.Reloads; r != nil {
		counter(ch, dReloads, r.Success.Load(), "success")
		counter(ch, dReloads, r.Failure.Load(), "failure")
		gauge(ch, dReloadLast, float64(r.LastSuccess.Load()))
	}
	if c.src.Version != "" {
		gauge(ch, dBuildInfo, 1, c.src.Version, runtime.Version())
	}
	if c.src.Admin != nil {
		failures, since := c.src.Admin()
		counter(ch, dAdminFails, failures)
		if !since.IsZero() {
			gauge(ch, dAdminSince, float64(since.UnixNano())/1e9)
		}
	}
}
