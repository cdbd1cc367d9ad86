package component

import (
	"sync"
	"sync/atomic"
)

// Kind says how a sample is exported.
type Kind uint8

const (
	Counter Kind = iota // only goes up; exported with a _total suffix
	Gauge               // goes up and down
)

// Sample is one value of a component's metric, read at scrape time.
type Sample struct {
	Name  string // snake_case, without prefix or _total ("requests")
	Help  string
	Kind  Kind
	Value int64
}

// Metrics are the figures one component publishes on /metrics beside the
// ones the agent keeps for every component. The agent exports each as
// logflux_agent_<input|output>_<type>_<name>{input|output="<component name>"}.
// A nil *Metrics accepts registrations and publishes nothing.
type Metrics struct {
	mu    sync.Mutex
	items []metric
}

type metric struct {
	name, help string
	kind       Kind
	read       func() int64
}

// Counter registers a counter and returns it for the component to add to.
func (m *Metrics) Counter(name, help string) *atomic.Int64 {
	v := new(atomic.Int64)
	m.Func(name, help, Counter, v.Load)
	return v
}

// Func registers a metric read from f at scrape time (for counters a
// component already keeps).
func (m *Metrics) Func(name, help string, kind Kind, f func() int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = append(m.items, metric{name: name, help: help, kind: kind, read: f})
}

// Samples reads every registered metric.
func (m *Metrics) Samples() []Sample {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Sample, len(m.items))
	for i, it := range m.items {
		out[i] = Sample{Name: it.name, Help: it.help, Kind: it.kind, Value: it.read()}
	}
	return out
}
