package redact

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Metrics are redaction's counters, kept by rule name across reloads.
type Metrics struct {
	mu    sync.Mutex
	rules map[string]*RuleCounters

	nanos     atomic.Int64 // estimated time spent redacting (see sampleEvery)
	truncated atomic.Int64 // values cut to stay within the contract's limits
	calls     *callCounter // Filter calls, to time one in sampleEvery
}

// callCounter is a counter on a cache line of its own: every connection
// adds to it, and a line it shared with the counters or the rules, which
// connections only read, would move between the cores with every add.
type callCounter struct {
	n atomic.Uint32
	_ [60]byte
}

// RuleCounters count one rule's work.
type RuleCounters struct {
	Matches atomic.Int64 // matches redacted (a key masked or dropped counts one)
	Drops   atomic.Int64 // entries dropped by the rule (action drop_entry)
}

// NewMetrics returns zeroed counters.
func NewMetrics() *Metrics {
	return &Metrics{rules: map[string]*RuleCounters{}, calls: new(callCounter)}
}

// timeThis reports whether to time this Filter call: one in sampleEvery.
// A counter, not a random number: an uncontended atomic add costs a
// fraction of what math/rand's does, and which calls are timed does not
// depend on what they hold either way.
func (m *Metrics) timeThis() bool { return m.calls.n.Add(1)%sampleEvery == 0 }

func (m *Metrics) counters(name string) *RuleCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.rules[name]
	if c == nil {
		c = new(RuleCounters)
		m.rules[name] = c
	}
	return c
}

// RuleStats is one rule's figures.
type RuleStats struct {
	Rule           string
	Matches, Drops int64
}

// Stats are the figures at one moment, for the metrics endpoint.
type Stats struct {
	Rules     []RuleStats // by rule name
	Seconds   float64     // time spent redacting, estimated from one call in 32
	Truncated int64
}

// Stats reads the counters.
func (m *Metrics) Stats() Stats {
	m.mu.Lock()
	st := Stats{Seconds: float64(m.nanos.Load()) / 1e9, Truncated: m.truncated.Load()}
	for name, c := range m.rules {
		st.Rules = append(st.Rules, RuleStats{Rule: name, Matches: c.Matches.Load(), Drops: c.Drops.Load()})
	}
	m.mu.Unlock()
	sort.Slice(st.Rules, func(i, j int) bool { return st.Rules[i].Rule < st.Rules[j].Rule })
	return st
}
