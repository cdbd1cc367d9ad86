package logflux

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of a client's counters. Counts are of entries unless
// the field says otherwise. An entry that is resent (after a lost connection
// or a queue_full answer) may be counted in Accepted more than once.
type Stats struct {
	// Logged entries were taken into the queue by Log or the Handler.
	Logged uint64
	// Queued entries are held in memory: waiting, in flight, or sent and
	// awaiting the agent's confirmation. QueuedBytes is the memory charged
	// for them, bounded by Config.QueueBytes.
	Queued      int
	QueuedBytes int64
	// Accepted entries were taken by the agent without an error.
	Accepted uint64
	// Confirmed entries were confirmed durable by the agent's flush answer.
	Confirmed uint64
	// Fallback entries were written to the fallback file or stderr.
	Fallback uint64
	// Dropped counts entries the SDK gave up on, by reason:
	//   queue_full      no room in the queue (Log returned ErrQueueFull)
	//   closed          logged after Close (Log returned ErrClosed)
	//   invalid         refused before sending (Log returned ErrInvalidEntry)
	//   fallback_full   the fallback file had reached FallbackMaxBytes
	//   fallback_error  writing the fallback failed
	//   unsent          still unconfirmed at Close, with no fallback
	Dropped map[string]uint64
	// Rejected counts entries the agent refused, by its error code, such as
	// "invalid_entry". They are not retried.
	Rejected map[string]uint64
	// Retried counts batches sent again, by reason: "queue_full" (the agent
	// refused the whole batch for now), "reconnect" (the connection was lost
	// before the agent confirmed the batch), "unavailable" (the agent was
	// shutting down) and "split" (the agent found the line too large).
	Retried map[string]uint64
	// Connections is the number of connections open to the agent now.
	Connections int
	// DialFailures counts failed attempts to connect or authenticate.
	DialFailures uint64
	// LastError is the most recent connection or agent error, or nil.
	LastError error
}

// Drop reasons, the keys of Stats.Dropped.
const (
	dropQueueFull = iota
	dropClosed
	dropInvalid
	dropFallbackFull
	dropFallbackError
	dropUnsent
	numDropReasons
)

var dropNames = [numDropReasons]string{"queue_full", "closed", "invalid", "fallback_full", "fallback_error", "unsent"}

// counters are the client's statistics, shared by the caller's goroutines
// and the sender. Logged, Queued and QueuedBytes live in the queue.
type counters struct {
	accepted, confirmed, fallback, dialFailures atomic.Uint64
	dropped                                     [numDropReasons]atomic.Uint64

	mu       sync.Mutex // guards the maps
	rejected map[string]uint64
	retried  map[string]uint64
}

func (c *counters) drop(reason int, n int) { c.dropped[reason].Add(uint64(n)) }

func (c *counters) reject(code string, n int) {
	c.mu.Lock()
	if c.rejected == nil {
		c.rejected = make(map[string]uint64)
	}
	c.rejected[code] += uint64(n)
	c.mu.Unlock()
}

func (c *counters) retry(reason string, batches int) {
	c.mu.Lock()
	if c.retried == nil {
		c.retried = make(map[string]uint64)
	}
	c.retried[reason] += uint64(batches)
	c.mu.Unlock()
}

func (c *counters) fill(s *Stats) {
	s.Accepted = c.accepted.Load()
	s.Confirmed = c.confirmed.Load()
	s.Fallback = c.fallback.Load()
	s.DialFailures = c.dialFailures.Load()
	s.Dropped = make(map[string]uint64)
	for i := range c.dropped {
		if n := c.dropped[i].Load(); n > 0 {
			s.Dropped[dropNames[i]] = n
		}
	}
	c.mu.Lock()
	s.Rejected = maps.Clone(c.rejected)
	s.Retried = maps.Clone(c.retried)
	c.mu.Unlock()
	if s.Rejected == nil {
		s.Rejected = map[string]uint64{}
	}
	if s.Retried == nil {
		s.Retried = map[string]uint64{}
	}
}
