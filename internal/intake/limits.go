package intake

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// How the agent keeps one client from starving the others of its user
// (Unix) or of its machine (TCP on loopback, where every client has the
// same address):
//
//   - a Unix client process holds at most MaxPerProcess connections, so a
//     process that opens connections in a loop fills its own share, not its
//     user's whole MaxPerPeer;
//   - at most MaxUnauthenticated TCP connections wait to authenticate at
//     once; a newcomer beyond that closes the one waiting longest (it is
//     answered auth_timeout), so connections that never authenticate cannot
//     hold the door shut;
//   - a connection that sends no complete line within FirstLineTimeout is
//     closed (Unix; TCP has AuthTimeout);
//   - after AuthFailLimit wrong secrets a client is only refused outright
//     when its failures come at a brute-force rate (bruteForceFactor times
//     that within AuthFailBlock); below that the right secret is accepted;
//   - every refusal is counted by reason and logged, one line per reason
//     and peer every 10 seconds with a count (refusals.go).
const (
	DefaultMaxPerProcess      = 64
	DefaultMaxUnauthenticated = 64
	DefaultFirstLineTimeout   = time.Minute
	bruteForceFactor          = 20
)

// processID names the client process of a Unix connection ("" when unknown).
func processID(nc net.Conn, t Transport) string {
	if t != Unix {
		return ""
	}
	if uc, ok := nc.(*net.UnixConn); ok {
		if pid, ok := peerPID(uc); ok {
			return "pid:" + strconv.Itoa(pid)
		}
	}
	return ""
}

// admitLimitsLocked applies the limits above to a new connection; it returns
// the refusal, or "" (and may close a waiting unauthenticated connection to
// make room).
func (s *Server) admitLimitsLocked(o *Options, t Transport, proc string) (refuse, reason string) {
	if proc != "" && o.MaxPerProcess > 0 && s.procs[proc] >= o.MaxPerProcess {
		return fmt.Sprintf("this process is at its limit of %d connections", o.MaxPerProcess), "max_connections_per_process"
	}
	if t == TCP && o.MaxUnauthenticated > 0 && len(s.unauth) >= o.MaxUnauthenticated {
		var oldest *conn
		for c, since := range s.unauth {
			if oldest == nil || since.Before(s.unauth[oldest]) {
				oldest = c
			}
		}
		delete(s.unauth, oldest)
		oldest.evicted.Store(true)
		oldest.interrupt()
		s.Counters.refused("unauthenticated_evicted")
		s.refusals.note(s.log, "unauthenticated_evicted", oldest.peer, "closed a TCP connection that had not authenticated, to make room (tcp.max_unauthenticated)")
	}
	return "", ""
}

// track counts an admitted connection in the limits above.
func (s *Server) trackLocked(c *conn, proc string) {
	if proc != "" {
		s.procs[proc]++
	}
	if !c.authed {
		s.unauth[c] = time.Now()
	}
}

// untrackLocked undoes trackLocked when the connection ends.
func (s *Server) untrackLocked(c *conn, proc string) {
	if proc != "" {
		if s.procs[proc]--; s.procs[proc] <= 0 {
			delete(s.procs, proc)
		}
	}
	delete(s.unauth, c)
}

// authenticated takes c out of the connections waiting to authenticate.
func (s *Server) authenticated(c *conn) {
	s.mu.Lock()
	delete(s.unauth, c)
	s.mu.Unlock()
}

// timeoutAnswer is what a connection cut off by its read deadline is told.
func (c *conn) timeoutAnswer() string {
	if c.evicted.Load() {
		return fmt.Sprintf("closed before authenticating, to make room for new connections (at most %d wait to authenticate at once)", c.o.MaxUnauthenticated)
	}
	return fmt.Sprintf("no authentication within %s", c.o.AuthTimeout)
}

// firstLineDeadline closes a Unix connection that sends no complete line
// within FirstLineTimeout (when no idle timeout applies anyway).
func (c *conn) firstLineDeadline() {
	if c.authed && c.o.IdleTimeout == 0 && c.o.FirstLineTimeout > 0 {
		c.waitingFirst = true
		c.nc.SetReadDeadline(time.Now().Add(c.o.FirstLineTimeout))
	}
}

// gotLine lifts the first-line deadline once a complete line arrived.
func (c *conn) gotLine() {
	if c.waitingFirst && !c.lines.unfinished {
		c.waitingFirst = false
		c.nc.SetReadDeadline(time.Time{})
	}
}

// cutOff logs and counts a connection ended by its first-line deadline.
func (c *conn) cutOff(err error) {
	if c.waitingFirst && isTimeout(err) && !c.s.closing.Load() {
		c.s.Counters.refused("first_line_timeout")
		c.s.refusals.note(c.s.log, "first_line_timeout", c.peer, fmt.Sprintf("closed a connection that sent no complete line within %s (limits.first_line_timeout)", c.o.FirstLineTimeout))
	}
}

// bruteForce reports whether fails failures within AuthFailBlock come at a
// rate only a guesser reaches: then even the right secret is refused.
func bruteForce(fails int, o *Options) bool {
	return fails >= o.AuthFailLimit*bruteForceFactor
}
