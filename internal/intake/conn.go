package intake

import (
	"crypto/subtle"

	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"io"
	"net"
	"os"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/queue"
)

// Pending records are appended to the queue once no further line is
// buffered, before any response, or when they grow past Options.MaxPendingBytes
// or this many records.
const maxPendingRecords = 1024

// conn is one client connection. Its lines are handled in order on one
// goroutine: decode, answer, and append accepted entries to the queue.
type conn struct {
	s     *Server
	o     *Options // the options in force when the connection opened
	peer  string
	limit *rate.Limiter // nil: no rate limit
	nc    net.Conn
	t     Transport
	lines *lineReader
	dec   protocol.Decoder

	authed   bool
	accepted int64 // entries accepted on this connection
	rejected int64 // entries (or unreadable lines) refused on this connection

	// Accepted records not yet appended: their bytes, where each ends, and
	// for each message how many records it holds.
	pend     []byte
	pendEnds []int
	pendMsgs []int
	recs     [][]byte

	out      []byte // responses not yet written
	deadline time.Time

	// The time of receipt of the lines of the latest read, formatted once
	// for all of them.
	stamp     protocol.Stamp
	stampFill int
}

func newConn(s *Server, o *Options, nc net.Conn, t Transport) *conn {
	c := &conn{s: s, o: o, nc: nc, t: t, authed: t != TCP}
	c.dec.MaxBatch = o.MaxBatch
	c.lines = newLineReader(readCounter{nc, &s.Counters.BytesIn}, o.MaxLineBytes)
	if o.RateLimit > 0 {
		c.limit = rate.NewLimiter(rate.Limit(o.RateLimit), max(int(o.RateLimit), o.MaxBatch))
	}
	return c
}

type readCounter struct {
	r io.Reader
	n interface{ Add(int64) int64 }
}

func (r readCounter) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// errClose ends a connection after its last response is written.
var errClose = errors.New("close connection")

// interrupt makes a blocked read return, so that the connection finishes what
// it has buffered and ends.
func (c *conn) interrupt() {
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	defer c.nc.Close()
	if !c.authed {
		c.nc.SetReadDeadline(time.Now().Add(c.o.AuthTimeout))
	} else if c.o.IdleTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.o.IdleTimeout))
	}
	for {
		if !c.lines.hasLine() {
			// About to block on the network: hand over what was read so
			// far and answer what needs answering first.
			if c.commit() != nil || c.flushOut() != nil {
				return
			}
			if c.s.closing.Load() {
				c.interrupt()
			} else if c.authed && c.o.IdleTimeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(c.o.IdleTimeout))
			}
		}
		line, err := c.lines.next()
		if err == errLineTooLong {
			c.s.Counters.Messages.Add(1)
			if !c.authed {
				c.fail(protocol.NewError(protocol.CodeAuthRequired, "authenticate first: the first message on a TCP connection must be {\"action\":\"authenticate\",...}"))
				c.flushOut()
				return
			}
			c.rejected++
			c.s.Counters.Rejected.Add(1)
			c.respondErr(protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("message longer than %d bytes; it was skipped", c.o.MaxLineBytes)))
			continue
		}
		if err != nil {
			c.commit()
			if !c.authed && isTimeout(err) && !c.s.closing.Load() {
				c.fail(protocol.NewError(protocol.CodeAuthTimeout, fmt.Sprintf("no authentication within %s", c.o.AuthTimeout)))
			}
			c.flushOut()
			return
		}
		if err := c.handle(line); err != nil {
			c.flushOut()
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// handle answers one line; errClose means the connection must end.
func (c *conn) handle(line []byte) error {
	msg, derr := c.dec.Decode(line)
	if msg == nil && derr == nil {
		return nil // empty line
	}
	c.s.Counters.Messages.Add(1)
	if !c.authed {
		if msg == nil || msg.Kind != protocol.KindAuthenticate || msg.Secret == nil {
			c.fail(protocol.NewError(protocol.CodeAuthRequired, "authenticate first: the first message on a TCP connection must be {\"action\":\"authenticate\",\"shared_secret\":\"...\"}"))
			return errClose
		}
	}
	if derr != nil && msg == nil {
		c.rejected += int64(derr.Refused)
		c.s.Counters.Rejected.Add(int64(derr.Refused))
		c.respondErr(derr)
		return nil
	}
	switch msg.Kind {
	case protocol.KindPing:
		c.respond(protocol.RespPong)
	case protocol.KindAuthenticate:
		if c.t == TCP {
			// An empty configured secret never matches: no secret, no TCP.
			if c.o.SharedSecret == "" || subtle.ConstantTimeCompare(msg.Secret, []byte(c.o.SharedSecret)) != 1 {
				c.s.authFailed(peerID(c.nc, c.t), c.o)
				c.s.log.Warn("authentication failed", "peer", c.nc.RemoteAddr().String())
				c.fail(protocol.NewError(protocol.CodeAuthFailed, "authentication failed: wrong shared secret"))
				return errClose
			}
			if !c.authed {
				c.authed = true
				c.s.authSucceeded(peerID(c.nc, c.t))
				var zero time.Time
				if c.o.IdleTimeout > 0 {
					zero = time.Now().Add(c.o.IdleTimeout)
				}
				c.nc.SetReadDeadline(zero)
			}
		}
		c.respond(protocol.RespAuthSuccess)
	case protocol.KindFlush:
		if err := c.commit(); err != nil {
			return err
		}
		if err := c.s.sink.Sync(c.s.stop); err != nil {
			c.respondErr(protocol.NewError(protocol.CodeUnavailable, "the queue could not confirm durability: "+err.Error()))
			return nil
		}
		c.respond(protocol.AppendFlush(nil, c.accepted, c.rejected))
	case protocol.KindEntry, protocol.KindBatch:
		if len(c.pend) > 0 && len(c.pend)+len(line) > c.o.MaxPendingBytes {
			// A large message goes in on its own, not stacked on others.
			if err := c.commit(); err != nil {
				return err
			}
		}
		if c.stampFill != c.lines.fills || c.stamp.T.IsZero() {
			c.stamp.Set(c.o.Now())
			c.stampFill = c.lines.fills
		}
		start := len(c.pendEnds)
		for i := range msg.Entries {
			c.pend = protocol.AppendRecordStamp(c.pend, &msg.Entries[i], &c.stamp)
			c.pendEnds = append(c.pendEnds, len(c.pend))
		}
		if n := len(c.pendEnds) - start; n > 0 {
			c.pendMsgs = append(c.pendMsgs, n)
		}
		if derr != nil {
			// Partly accepted batch: its valid entries go in with the
			// rest; the error lists the others.
			bad := msg.Total - len(msg.Entries)
			c.rejected += int64(bad)
			c.s.Counters.Rejected.Add(int64(bad))
			c.respondErr(derr)
		} else if len(c.pend) >= c.o.MaxPendingBytes || len(c.pendEnds) >= maxPendingRecords {
			return c.commit()
		}
	}
	return nil
}

// commit appends the pending records to the queue. If the queue refuses,
// every message among them is answered queue_full and nothing of it is kept.
func (c *conn) commit() error {
	if len(c.pendEnds) == 0 {
		return nil
	}
	c.recs = c.recs[:0]
	prev := 0
	for _, end := range c.pendEnds {
		c.recs = append(c.recs, c.pend[prev:end])
		prev = end
	}
	err := c.s.sink.Append(c.s.stop, c.recs)
	if errors.Is(err, queue.ErrFull) && len(c.pendMsgs) > 1 {
		// The group did not fit; each message on its own still might,
		// and only the ones that do not are refused.
		err = nil
		recs := c.recs
		for _, n := range c.pendMsgs {
			if e := c.settle(int64(n), c.s.sink.Append(c.s.stop, recs[:n])); e != nil && err == nil {
				err = e
			}
			recs = recs[n:]
		}
		c.resetPending()
		return c.fatal(err, 1)
	}
	msgs := len(c.pendMsgs)
	c.resetPending()
	n := int64(len(c.recs))
	clear(c.recs)
	return c.fatal(c.settle(n, err), msgs)
}

// settle counts the outcome of appending n records and answers queue_full
// when they did not fit (the client may retry). It returns any other error.
func (c *conn) settle(n int64, err error) error {
	if err == nil {
		c.accepted += n
		c.s.Counters.Accepted.Add(n)
		return c.pace(int(n))
	}
	c.rejected += n
	c.s.Counters.Rejected.Add(n)
	if errors.Is(err, queue.ErrFull) {
		c.s.Counters.QueueFull.Add(n)
		c.queueFull()
		return nil
	}
	return err
}

// fatal turns an error from settle into the end of the connection: the
// queue is closed or the shutdown deadline passed, so msgs messages are
// answered unavailable.
func (c *conn) fatal(err error, msgs int) error {
	switch {
	case err == nil:
		return nil
	case err == errClose:
		return err
	default:
		return c.unavailable(msgs)
	}
}

// pace holds the connection back when it goes over its rate limit: the
// client is read more slowly rather than refused.
func (c *conn) pace(n int) error {
	if c.limit == nil {
		return nil
	}
	for n > 0 {
		k := min(n, c.limit.Burst())
		if err := c.limit.WaitN(c.s.stop, k); err != nil {
			return errClose
		}
		n -= k
	}
	return nil
}

func (c *conn) resetPending() {
	c.pend, c.pendEnds, c.pendMsgs = c.pend[:0], c.pendEnds[:0], c.pendMsgs[:0]
	if cap(c.pend) > 4<<20 {
		c.pend = nil
	}
}

func (c *conn) queueFull() {
	c.s.logQueueFull()
	c.writeErr(protocol.NewError(protocol.CodeQueueFull, "the agent's queue is full; nothing of this message was accepted, retry later"))
}

// unavailable answers msgs messages refused because the queue is closed or
// the shutdown deadline passed, and ends the connection.
func (c *conn) unavailable(msgs int) error {
	for range msgs {
		c.writeErr(protocol.NewError(protocol.CodeUnavailable, "the agent is shutting down; nothing of this message was accepted"))
	}
	return errClose
}

// respond queues a response after the entries read before it are committed,
// so that responses and acceptance keep the order of the messages.
func (c *conn) respond(b []byte) {
	if c.commit() != nil {
		return
	}
	c.out = append(c.out, b...)
}

func (c *conn) respondErr(e *protocol.Error) {
	if c.commit() != nil {
		return
	}
	c.writeErr(e)
}

func (c *conn) writeErr(e *protocol.Error) {
	c.s.Counters.errorCode(e.Code)
	c.out = e.AppendJSON(c.out)
}

// fail answers an error that closes the connection.
func (c *conn) fail(e *protocol.Error) {
	c.writeErr(e)
}

// flushOut writes the queued responses. A client that does not read them
// within the write timeout is closed; it never holds up anyone else.
func (c *conn) flushOut() error {
	if len(c.out) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.o.WriteTimeout))
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 1<<20 {
		c.out = nil
	}
	if err != nil {
		c.s.log.Debug("closing a client that does not read its responses", "transport", c.t, "error", err)
		return err
	}
	return nil
}
