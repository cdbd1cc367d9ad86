package intake

import (
	"crypto/subtle"

	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/queue"
)

// Pending records are appended to the queue once no further line is
// buffered, before any response, or when they grow past Options.MaxPendingBytes
// or this many records.
const maxPendingRecords = 256

// A group of at least this many records is handed to the connection's
// appender goroutine, which appends it while the connection goes on reading
// and decoding. Smaller groups, typical of a slow client, are appended in
// place: handing them over would cost more than it saves.
const asyncMinRecords = 64

// maxInFlight bounds the groups handed over and not yet appended, per
// connection: enough to ride out a moment when the appender does not get a
// core, few enough to keep memory small.
const maxInFlight = 3

// conn is one client connection. Its lines are handled in order on its
// goroutine: decode, answer, and append accepted entries to the queue; an
// appender goroutine appends large groups while the connection reads on
// (launch), without changing what anyone sees.
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
	accepted atomic.Int64 // entries accepted on this connection
	rejected atomic.Int64 // entries (or unreadable lines) refused on this connection

	// Accepted records not yet appended. Large groups go to the appender
	// goroutine through todo and come back, in order, through done.
	pend     *group
	todo     chan *group // nil until the first group is handed over
	done     chan *group
	inflight int // groups handed over and not yet collected
	free     []*group
	failed   atomic.Bool // a handed-over group ended the connection

	evicted      atomic.Bool // closed unauthenticated to make room (limits.go)
	waitingFirst bool        // no complete line yet, under FirstLineTimeout

	out      []byte // responses not yet written
	deadline time.Time

	// The time of receipt of the lines of the latest read, formatted once
	// for all of them.
	stamp     protocol.Stamp
	stampFill int
}

func newConn(s *Server, o *Options, nc net.Conn, t Transport) *conn {
	c := &conn{s: s, o: o, nc: nc, t: t, authed: t != TCP, pend: new(group)}
	c.dec.MaxBatch = o.MaxBatch
	c.stamp.Input = o.Input
	c.lines = newLineReader(readCounter{nc, &s.Counters.BytesIn}, o.MaxLineBytes)
	c.lines.budget, c.lines.budgetMax = &s.budget, s.maxBuffered
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
	defer func() {
		c.land() // never leave an append running on a closed connection
		if c.todo != nil {
			close(c.todo)
		}
		c.nc.Close()
		c.lines.dropGrant()
	}()
	if !c.authed {
		c.nc.SetReadDeadline(time.Now().Add(c.o.AuthTimeout))
	} else if c.o.IdleTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.o.IdleTimeout))
	}
	c.firstLineDeadline()
	for {
		if !c.lines.hasLine() {
			// About to block on the network: answer what needs answering
			// and hand over what was read so far; a large group is
			// appended while the next read waits.
			if c.launch() != nil || c.flushOut() != nil {
				return
			}
			if c.s.closing.Load() {
				c.interrupt()
			} else if c.authed && c.o.IdleTimeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(c.o.IdleTimeout))
			}
		}
		line, err := c.lines.next()
		if c.step(line, err) {
			return
		}
	}
}

// step handles what lines.next returned; true means the connection ends.
func (c *conn) step(line []byte, err error) bool {
	if err == errOverBudget {
		return c.overBudget()
	}
	if err == errLineTooLong {
		c.s.Counters.Messages.Add(1)
		if !c.authed {
			c.fail(protocol.NewError(protocol.CodeAuthRequired, "authenticate first: the first message on a TCP connection must be {\"action\":\"authenticate\",...}"))
			c.flushOut()
			return true
		}
		c.rejected.Add(1)
		c.s.Counters.Rejected.Add(1)
		c.respondErr(protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("message longer than %d bytes; it was skipped", c.o.MaxLineBytes)))
		return false
	}
	if err != nil {
		c.commit()
		if !c.authed && isTimeout(err) && !c.s.closing.Load() {
			c.fail(protocol.NewError(protocol.CodeAuthTimeout, c.timeoutAnswer()))
		}
		c.cutOff(err)
		c.flushOut()
		return true
	}
	if !c.authed && c.lines.unfinished && isTimeout(c.lines.err) && !c.s.closing.Load() {
		// The authentication timeout passed in the middle of the first
		// line (a client sending it slowly): that is what to answer, not
		// what the half line would decode to.
		c.s.Counters.Messages.Add(1)
		c.fail(protocol.NewError(protocol.CodeAuthTimeout, c.timeoutAnswer()))
		c.flushOut()
		return true
	}
	c.gotLine()
	if err := c.handle(line); err != nil {
		c.flushOut()
		return true
	}
	return false
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
		c.rejected.Add(int64(derr.Refused))
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
				c.s.authFailed(authPeer(c.nc), c.o)
				c.s.refusals.note(c.s.log, "auth_failed", c.peer, "authentication failed: wrong shared secret")
				c.fail(protocol.NewError(protocol.CodeAuthFailed, "authentication failed: wrong shared secret"))
				return errClose
			}
			if !c.authed {
				c.authed = true
				c.s.authenticated(c)
				if c.s.authFails.Load() > 0 {
					c.s.authSucceeded(authPeer(c.nc))
				}
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
		c.respond(protocol.AppendFlush(nil, c.accepted.Load(), c.rejected.Load()))
	case protocol.KindEntry, protocol.KindBatch:
		if p := c.pend; len(p.data) > 0 && len(p.data)+len(line) > c.o.MaxPendingBytes {
			// A large message goes in on its own, not stacked on others.
			if err := c.launch(); err != nil {
				return err
			}
		}
		p := c.pend // launch swapped it
		if c.stampFill != c.lines.fills || c.stamp.T.IsZero() {
			c.stamp.Set(c.o.Now())
			c.stampFill = c.lines.fills
		}
		start := len(p.ends)
		entries := msg.Entries
		if c.o.Filter != nil {
			// Before anything is written: a dropped entry counts as
			// accepted, as its client was told.
			entries = c.o.Filter.Filter(entries)
			c.accepted.Add(int64(len(msg.Entries) - len(entries)))
		}
		for i := range entries {
			p.data = protocol.AppendRecordStamp(p.data, &entries[i], &c.stamp)
			p.ends = append(p.ends, len(p.data))
		}
		if n := len(p.ends) - start; n > 0 {
			p.msgs = append(p.msgs, n)
		}
		if derr != nil {
			// Partly accepted batch: its valid entries go in with the
			// rest; the error lists the others.
			bad := msg.Total - len(msg.Entries)
			c.rejected.Add(int64(bad))
			c.s.Counters.Rejected.Add(int64(bad))
			c.respondErr(derr)
		} else if len(p.data) >= c.o.MaxPendingBytes || len(p.ends) >= maxPendingRecords {
			return c.launch()
		}
	}
	return nil
}

// group is a run of accepted records from consecutive messages, appended
// to the queue as one unit.
type group struct {
	data []byte   // the records back to back
	ends []int    // where each record ends in data
	msgs []int    // for each message, how many records it holds
	recs [][]byte // the records, as handed to the queue

	out []byte // answers this group produced (queue_full, unavailable)
	err error  // non-nil: the connection must end
}

func (g *group) reset() {
	g.data, g.ends, g.msgs, g.out, g.err = g.data[:0], g.ends[:0], g.msgs[:0], g.out[:0], nil
	if cap(g.data) > 1<<20 {
		g.data = nil // kept for the next group unless a huge message grew it
	}
}

// commit appends the pending records to the queue and waits for the
// outcome, so that what is answered next comes after it.
func (c *conn) commit() error {
	if err := c.launch(); err != nil {
		return err
	}
	return c.land()
}

// launch hands the pending records to the queue. A large group goes to
// the appender goroutine, whose outcomes land collects; the connection's
// answers so far are written first, since the appender may answer too.
func (c *conn) launch() error {
	g := c.pend
	if len(g.ends) == 0 {
		return nil
	}
	if len(g.ends) < asyncMinRecords {
		if err := c.land(); err != nil {
			return err
		}
		c.appendGroup(g)
		c.out = append(c.out, g.out...)
		err := g.err
		g.reset()
		return err
	}
	if c.inflight == 0 {
		// While groups are in flight nothing is added to c.out (every
		// answer waits for land), so this is the moment to write it.
		if err := c.flushOut(); err != nil {
			return err
		}
	} else if c.inflight == maxInFlight {
		if err := c.collect(); err != nil {
			return err
		}
	}
	if c.todo == nil {
		c.todo = make(chan *group, maxInFlight)
		c.done = make(chan *group, maxInFlight)
		go c.appender()
	}
	if n := len(c.free); n > 0 {
		c.pend, c.free = c.free[n-1], c.free[:n-1]
	} else {
		c.pend = new(group)
	}
	c.todo <- g
	c.inflight++
	return nil
}

// appender appends the groups handed over, in order, and answers for them
// when the queue refuses. Nothing else writes to the connection while a
// group is in flight: every other answer waits for land first.
func (c *conn) appender() {
	for g := range c.todo {
		if c.failed.Load() {
			g.err = errClose // the connection ends: nothing more is accepted
		} else {
			c.appendGroup(g)
			if len(g.out) > 0 {
				// Even a group that ends the connection is answered.
				if err := c.write(g.out); g.err == nil {
					g.err = err
				}
			}
			g.out = g.out[:0]
			if g.err != nil {
				c.failed.Store(true)
				c.interrupt() // do not wait for the client's next line
			}
		}
		c.done <- g
	}
}

// collect waits for the oldest group in flight and returns its outcome.
func (c *conn) collect() error {
	g := <-c.done
	c.inflight--
	err := g.err
	g.reset()
	c.free = append(c.free, g)
	return err
}

// land waits for every group in flight and returns the first failure.
func (c *conn) land() error {
	var first error
	for c.inflight > 0 {
		if err := c.collect(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// appendGroup appends g's records to the queue. If the queue refuses, every
// message among them is answered queue_full and nothing of it is kept.
// Answers go to g.out; g.err is set when the connection must end.
func (c *conn) appendGroup(g *group) {
	g.recs = g.recs[:0]
	prev := 0
	for _, end := range g.ends {
		g.recs = append(g.recs, g.data[prev:end])
		prev = end
	}
	err := c.s.sink.Append(c.s.stop, g.recs)
	if (errors.Is(err, queue.ErrFull) || isStorageError(err)) && len(g.msgs) > 1 {
		// The group did not fit; each message on its own still might,
		// and only the ones that do not are refused.
		err = nil
		recs := g.recs
		for _, n := range g.msgs {
			if e := c.settle(g, int64(n), c.s.sink.Append(c.s.stop, recs[:n])); e != nil && err == nil {
				err = e
			}
			recs = recs[n:]
		}
		clear(g.recs)
		g.err = c.fatal(g, err, 1)
		return
	}
	n := int64(len(g.recs))
	clear(g.recs)
	g.err = c.fatal(g, c.settle(g, n, err), len(g.msgs))
}

// settle counts the outcome of appending n records and answers queue_full
// when they did not fit (the client may retry). It returns any other error.
func (c *conn) settle(g *group, n int64, err error) error {
	if err == nil {
		c.accepted.Add(n)
		c.s.Counters.Accepted.Add(n)
		c.s.storageWorks()
		return c.pace(int(n))
	}
	c.rejected.Add(n)
	c.s.Counters.Rejected.Add(n)
	if errors.Is(err, queue.ErrFull) {
		c.s.Counters.QueueFull.Add(n)
		c.s.logQueueFull()
		g.out = c.appendErr(g.out, protocol.NewError(protocol.CodeQueueFull, "the agent's queue is full; nothing of this message was accepted, retry later"))
		return nil
	}
	if isStorageError(err) {
		// A full disk or an I/O error: nothing was kept, the queue stays
		// usable, and the client is told the truth and may retry.
		c.s.storageFailed(err, n)
		g.out = c.appendErr(g.out, storageAnswer(err))
		return nil
	}
	return err
}

// fatal turns an error from settle into the end of the connection: the
// queue is closed or the shutdown deadline passed, so msgs messages are
// answered unavailable.
func (c *conn) fatal(g *group, err error, msgs int) error {
	switch {
	case err == nil:
		return nil
	case err == errClose:
		return err
	default:
		for range msgs {
			g.out = c.appendErr(g.out, protocol.NewError(protocol.CodeUnavailable, "the agent is shutting down; nothing of this message was accepted"))
		}
		return errClose
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
	c.out = c.appendErr(c.out, e)
}

func (c *conn) appendErr(dst []byte, e *protocol.Error) []byte {
	c.s.Counters.errorCode(e.Code)
	return e.AppendJSON(dst)
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
	err := c.write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 1<<20 {
		c.out = nil
	}
	return err
}

func (c *conn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.o.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.s.log.Debug("closing a client that does not read its responses", "transport", c.t, "error", err)
		return err
	}
	return nil
}
