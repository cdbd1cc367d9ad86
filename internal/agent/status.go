package agent

import (
	"fmt"
	"time"

	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/metrics"
	"github.com/logflux/agent/internal/queue"
)

// QueueStats returns the queue's depth with the oldest entry's time.
func (a *Agent) QueueStats() queue.Stats {
	st := a.Queue.Stats()
	if age := a.Queue.OldestAge(); age > 0 {
		st.Oldest = time.Now().Add(-age)
	} else {
		st.Oldest = time.Time{}
	}
	return st
}

// MetricOutputs lists the outputs' counters for the metrics collector.
func (a *Agent) MetricOutputs() []metrics.Output {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []metrics.Output
	for _, ro := range a.outputs {
		if ro.disp != nil {
			out = append(out, metrics.Output{Name: ro.cfg.Name, Counters: &ro.disp.Counters})
		}
	}
	return out
}

// MetricComponents lists the metrics inputs and outputs publish themselves.
func (a *Agent) MetricComponents() []metrics.Component {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []metrics.Component
	for _, ri := range a.inputs {
		out = append(out, metrics.Component{Kind: "input", Type: ri.cfg.Type, Name: ri.cfg.Name, Metrics: ri.metrics})
	}
	for _, ro := range a.outputs {
		out = append(out, metrics.Component{Kind: "output", Type: ro.cfg.Type, Name: ro.cfg.Name, Metrics: ro.metrics})
	}
	return out
}

// Ready reports whether the agent is taking and delivering entries, and if
// not, why: it is starting or stopping, or an output has delivered nothing
// for stallAfter while entries have been waiting at least that long.
func (a *Agent) Ready(stallAfter time.Duration) (bool, []string) {
	switch State(a.state.Load()) {
	case Starting:
		return false, []string{"starting"}
	case Stopping:
		return false, []string{"shutting down"}
	}
	if p := a.storageProblem(); p != "" {
		return false, []string{p}
	}
	st := a.QueueStats()
	if st.Oldest.IsZero() || time.Since(st.Oldest) < stallAfter {
		return true, nil
	}
	var reasons []string
	for _, o := range a.MetricOutputs() {
		last := o.Counters.LastSend.Load()
		if last == 0 || time.Since(time.Unix(0, last)) >= stallAfter {
			reasons = append(reasons, fmt.Sprintf("output %s has delivered nothing for %s while entries wait (oldest %s)",
				o.Name, stallAfter, time.Since(st.Oldest).Round(time.Second)))
		}
	}
	return len(reasons) == 0, reasons
}

// Status is a summary a person can read, served as JSON on /status.
type Status struct {
	State      string         `json:"state"`
	Ready      bool           `json:"ready"`
	Problems   []string       `json:"problems,omitempty"`
	Uptime     string         `json:"uptime"`
	Listeners  []string       `json:"listeners"`
	Inputs     []InputStatus  `json:"inputs"`
	Clients    ClientStatus   `json:"clients"`
	Queue      QueueStatus    `json:"queue"`
	Outputs    []OutputStatus `json:"outputs"`
	DeadLetter DLQStatus      `json:"dead_letter"`
	Reloads    ReloadStatus   `json:"reloads"`
}

// InputStatus is one input on /status.
type InputStatus struct {
	Name      string           `json:"name"`
	Type      string           `json:"type"`
	Listeners []string         `json:"listeners,omitempty"`
	Figures   map[string]int64 `json:"figures,omitempty"`
}

type ClientStatus struct {
	Open         int64            `json:"open"`
	Total        int64            `json:"total"`
	Accepted     int64            `json:"entries_accepted"`
	Rejected     int64            `json:"entries_rejected"`
	Errors       map[string]int64 `json:"error_responses"`
	AuthFailures int64            `json:"auth_failures"`
}

type QueueStatus struct {
	Type         string  `json:"type"`
	Entries      int64   `json:"entries"`
	Bytes        int64   `json:"bytes"`
	MaxBytes     int64   `json:"max_bytes"`
	PercentFull  float64 `json:"percent_full"`
	OldestAgeSec float64 `json:"oldest_entry_age_seconds"`
}

type OutputStatus struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Sent         int64  `json:"entries_sent"`
	Failures     int64  `json:"send_failures"`
	Retried      int64  `json:"entries_retried"`
	Filtered     int64  `json:"entries_filtered,omitempty"`
	DeadLettered int64  `json:"entries_dead_lettered"`
	LastSuccess  string `json:"last_success,omitempty"`
}

type DLQStatus struct {
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
	Dropped int64 `json:"dropped"`
}

type ReloadStatus struct {
	Success     int64  `json:"success"`
	Failure     int64  `json:"failure"`
	LastSuccess string `json:"last_success,omitempty"`
}

// Status returns the agent's status.
func (a *Agent) Status(stallAfter time.Duration) Status {
	cfg := a.Config()
	ready, problems := a.Ready(stallAfter)
	st := Status{Ready: ready, Problems: problems, Uptime: time.Since(a.started).Round(time.Second).String()}
	st.State = [...]string{"starting", "running", "stopping"}[a.state.Load()]
	a.mu.Lock()
	for _, ri := range a.inputs {
		is := InputStatus{Name: ri.cfg.Name, Type: ri.cfg.Type}
		if r, ok := ri.in.(input.StatusReporter); ok {
			rs := r.Status()
			is.Listeners, is.Figures = rs.Listeners, rs.Figures
		}
		st.Listeners = append(st.Listeners, is.Listeners...)
		st.Inputs = append(st.Inputs, is)
	}
	api := a.apiInput()
	types := map[string]string{}
	for _, ro := range a.outputs {
		types[ro.cfg.Name] = ro.cfg.Type
	}
	a.mu.Unlock()
	c := new(intake.Counters)
	if api != nil {
		c = api.Counters()
	}
	st.Clients = ClientStatus{Open: c.UnixOpen.Load() + c.TCPOpen.Load(), Total: c.UnixTotal.Load() + c.TCPTotal.Load(),
		Accepted: c.Accepted.Load(), Rejected: c.Rejected.Load(), Errors: c.Errors(), AuthFailures: c.AuthFailures.Load()}
	qs := a.QueueStats()
	st.Queue = QueueStatus{Type: cfg.Queue.Type, Entries: qs.Records, Bytes: qs.Bytes, MaxBytes: qs.MaxBytes}
	if qs.MaxBytes > 0 {
		st.Queue.PercentFull = float64(int(1000*float64(qs.Bytes)/float64(qs.MaxBytes))) / 10
	}
	if !qs.Oldest.IsZero() {
		st.Queue.OldestAgeSec = time.Since(qs.Oldest).Seconds()
	}
	for _, o := range a.MetricOutputs() {
		os := OutputStatus{Name: o.Name, Type: types[o.Name], Sent: o.Counters.Sent.Load(), Failures: o.Counters.Failed.Load(),
			Retried: o.Counters.Retried.Load(), Filtered: o.Counters.Filtered.Load(), DeadLettered: o.Counters.DeadLetter.Load()}
		if ns := o.Counters.LastSend.Load(); ns > 0 {
			os.LastSuccess = time.Unix(0, ns).UTC().Format(time.RFC3339)
		}
		st.Outputs = append(st.Outputs, os)
	}
	ds := a.DeadLetter.Stats()
	st.DeadLetter = DLQStatus{Entries: ds.Entries, Bytes: ds.Bytes, Dropped: ds.Dropped}
	st.Reloads = ReloadStatus{Success: a.Reloads.Success.Load(), Failure: a.Reloads.Failure.Load()}
	if t := a.Reloads.LastSuccess.Load(); t > 0 {
		st.Reloads.LastSuccess = time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	return st
}

// MetricSources wires the agent's figures into the metrics collector.
func (a *Agent) MetricSources() metrics.Sources {
	return metrics.Sources{
		Intake: func() *intake.Counters {
			a.mu.Lock()
			defer a.mu.Unlock()
			if api := a.apiInput(); api != nil {
				return api.Counters()
			}
			return nil
		},
		Components: a.MetricComponents,
		Queue:      a.QueueStats,
		Outputs:    a.MetricOutputs,
		Reloads:    &a.Reloads,
		Drops: func() map[string]int64 {
			return map[string]int64{"dead_letter_overflow": a.DeadLetter.Stats().Dropped}
		},
	}
}

// storageProblem is why the queue refuses the inputs' entries (a full
// disk), or "".
func (a *Agent) storageProblem() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ri := range a.inputs {
		if sp, ok := ri.in.(interface{ StorageProblem() string }); ok {
			if p := sp.StorageProblem(); p != "" {
				return p
			}
		}
	}
	return ""
}
