package intake

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLogEvery is the least time between two log lines about refusals of
// one kind for one peer; the refusals in between are counted in the next.
const refusalLogEvery = 10 * time.Second

// refusalLog logs refused and cut-off clients without letting a client that
// is refused a thousand times a second flood the log: one line per reason
// and peer per refusalLogEvery, carrying how many refusals it stands for.
type refusalLog struct {
	mu    sync.Mutex
	seen  map[refusalKey]*refusalCount
	swept time.Time
}

type refusalKey struct{ reason, peer string }

type refusalCount struct {
	logged  time.Time
	pending int // refusals since the last line
}

// note counts one refusal of peer for reason and logs it if no line about
// the same reason and peer was written in the last refusalLogEvery.
func (r *refusalLog) note(log *slog.Logger, reason, peer, msg string) {
	now := time.Now()
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[refusalKey]*refusalCount{}
	}
	if now.Sub(r.swept) > refusalLogEvery || len(r.seen) > 10000 {
		// Forget peers quiet for a whole interval; a spray of addresses
		// cannot grow the map past a bound.
		r.swept = now
		for k, c := range r.seen {
			if now.Sub(c.logged) >= refusalLogEvery || len(r.seen) > 10000 {
				if c.pending > 0 {
					log.Warn("more clients refused since the last line about them", "reason", k.reason, "peer", k.peer, "count", c.pending)
				}
				delete(r.seen, k)
			}
		}
	}
	k := refusalKey{reason, peer}
	c := r.seen[k]
	if c == nil {
		c = &refusalCount{}
		r.seen[k] = c
	}
	c.pending++
	if now.Sub(c.logged) < refusalLogEvery {
		r.mu.Unlock()
		return
	}
	n := c.pending
	c.logged, c.pending = now, 0
	r.mu.Unlock()
	log.Warn(msg, "reason", reason, "peer", peer, "count", n)
}

// refused counts one connection refused or cut off for reason.
func (c *Counters) refused(reason string) { bump(&c.refusedBy, reason) }

// Refusals returns the connections refused or cut off by the limits that
// protect clients from each other, by reason (besides Refused, RefusedPeer
// and Throttled).
func (c *Counters) Refusals() map[string]int64 { return counts(&c.refusedBy) }
