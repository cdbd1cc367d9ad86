package intake

import (
	"errors"
	"sync/atomic"

	"github.com/logflux/agent/internal/protocol"
)

// DefaultMaxBufferedBytes is the default budget for the bytes of unfinished
// lines buffered across all connections (Options.MaxBufferedBytes).
const DefaultMaxBufferedBytes = 256 << 20

// errOverBudget is returned by lineReader.next when a line would need more
// buffer than the shared budget has left; the line is skipped.
var errOverBudget = errors.New("line buffer budget exhausted")

// lineBudget is the memory all connections share for lines longer than what
// one connection may buffer on its own (streamBuffer). Every connection
// reads lines up to streamBuffer without asking; a longer line takes the
// bytes past that from here, and gives them back when its buffer is dropped
// or the connection ends. So a client holding huge unfinished lines on many
// connections can hold at most the budget, never more.
type lineBudget struct {
	used atomic.Int64 // bytes granted now
	peak atomic.Int64 // most ever granted at once
}

// take grants n bytes if they fit under max.
func (b *lineBudget) take(n, max int64) bool {
	for {
		used := b.used.Load()
		if used+n > max {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			for {
				p := b.peak.Load()
				if used+n <= p || b.peak.CompareAndSwap(p, used+n) {
					return true
				}
			}
		}
	}
}

func (b *lineBudget) give(n int64) { b.used.Add(-n) }

// grow asks the budget for what a buffer of size bytes needs beyond
// streamBuffer; false means the budget is exhausted and nothing was taken.
func (l *lineReader) grow(size int) bool {
	if l.budget == nil {
		return true
	}
	want := int64(max(size-streamBuffer, 0))
	if want <= l.granted {
		return true
	}
	if !l.budget.take(want-l.granted, l.budgetMax()) {
		return false
	}
	l.granted = want
	return true
}

// dropGrant gives back what the buffer held from the budget, when it is
// dropped or the connection ends.
func (l *lineReader) dropGrant() {
	if l.granted > 0 {
		l.budget.give(l.granted)
		l.granted = 0
	}
}

// refuseLine drops the unfinished line that found no budget: its bytes so
// far are discarded with the buffer, and the rest up to its newline is skipped.
func (l *lineReader) refuseLine() error {
	l.start, l.end, l.scanned = 0, 0, 0
	l.skipping = true
	l.buf = nil
	l.dropGrant()
	return errOverBudget
}

func (s *Server) maxBuffered() int64 { return s.options().MaxBufferedBytes }

// BufferedBytes returns the bytes of long unfinished lines buffered now
// and the most ever buffered at once, as counted against MaxBufferedBytes.
func (s *Server) BufferedBytes() (now, peak int64) {
	return s.budget.used.Load(), s.budget.peak.Load()
}

// overBudget answers a connection whose unfinished line found no room in
// the shared budget, and ends it: what it sent of the line is gone, and the
// client may send it again later, when other connections have finished
// theirs.
func (c *conn) overBudget() bool {
	c.s.Counters.Messages.Add(1)
	c.s.Counters.OverBudget.Add(1)
	c.s.Counters.refused("buffer_budget")
	c.s.refusals.note(c.s.log, "buffer_budget", c.peer, "closed a connection whose unfinished line found no room in limits.max_buffered_bytes")
	c.commit()
	c.fail(protocol.NewError(protocol.CodeUnavailable, "the agent is holding as many unfinished lines from other connections as limits.max_buffered_bytes allows; nothing of this message was accepted, retry later"))
	c.flushOut()
	return true
}

// Buffered returns the bytes of long unfinished lines buffered now against
// MaxBufferedBytes, and the most at once since the start.
func (c *Counters) Buffered() (now, peak int64) {
	if c.budget == nil {
		return 0, 0
	}
	return c.budget.used.Load(), c.budget.peak.Load()
}
