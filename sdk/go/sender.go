package logflux

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// maxPending bounds the batches written on one connection and not yet
// answered. A flush may take one more slot.
const maxPending = 32

// sender moves sealed chunks from the queue to the agent through a pool of
// workers, one connection each, and sends what the agent cannot take to the
// fallback. Goroutines: one worker per pool slot ("sending"), one reader per
// open connection ("reading", owned by its worker), and one ticker
// ("ticking") that seals idle batches and wakes the workers. Close stops
// them all and waits.
type sender struct {
	cfg     *Config
	q       *queue
	st      *counters
	changed *signal // fired on state changes, for Flush
	fb      *fallback
	eps     []endpoint
	secret  string
	dial    func(context.Context, string, string) (net.Conn, error)

	stop    chan struct{}
	ctx     context.Context // cancelled by shutdown: ends a dial under way
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers []*worker
	spillMu sync.Mutex // one worker spills at a time, so the fallback keeps the queue's order

	mu        sync.Mutex // guards everything below
	bo        backoff
	nextDial  time.Time           // no dial before this, unless probe
	probe     bool                // a Flush asks for one dial attempt now
	attempts  uint64              // dial attempts completed
	live      int                 // open connections
	dialing   int                 // dial attempts under way
	conns     map[*agentConn]bool // open connections, closed by shutdown
	downSince time.Time           // first failed dial with no connection open; zero while up
	lastErr   error
	flushWant uint64 // the newest generation a Flush waits for
}

func newSender(cfg *Config, q *queue, st *counters, changed *signal, fb *fallback, eps []endpoint, secret string) *sender {
	s := &sender{
		cfg:     cfg,
		q:       q,
		st:      st,
		changed: changed,
		fb:      fb,
		eps:     eps,
		secret:  secret,
		dial:    cfg.dial,
		stop:    make(chan struct{}),
		conns:   make(map[*agentConn]bool),
		bo:      backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.dial == nil {
		var d net.Dialer
		s.dial = d.DialContext
	}
	for range cfg.Connections {
		s.workers = append(s.workers, &worker{s: s, wake: make(chan struct{}, 1)})
	}
	return s
}

func (s *sender) start() {
	s.wg.Add(len(s.workers) + 1)
	for _, w := range s.workers {
		go w.sending()
	}
	go s.ticking()
}

// shutdown stops every goroutine and waits for them. Chunks on connections
// go back to the queue.
func (s *sender) shutdown() {
	close(s.stop)
	s.cancel()
	// End writes and reads under way; the workers then tear down.
	s.mu.Lock()
	for ac := range s.conns {
		ac.fail(errShutdown)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

var errShutdown = errors.New("logflux: client closed")

// pokeAll wakes every worker.
func (s *sender) pokeAll() {
	for _, w := range s.workers {
		w.poke()
	}
}

// ticking seals a waiting batch every flush interval and wakes the workers
// so they can act on time: idle flushes, fallback, backoff.
func (s *sender) ticking() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.q.sealIdle()
			s.pokeAll()
		case <-s.stop:
			return
		}
	}
}

// requestFlush asks the workers to confirm every chunk up to generation gen
// and to try the agent once now if it is down. It returns the number of
// dial attempts so far.
func (s *sender) requestFlush(gen uint64) uint64 {
	s.mu.Lock()
	s.flushWant = max(s.flushWant, gen)
	if s.live == 0 {
		s.probe = true
	}
	n := s.attempts
	s.mu.Unlock()
	s.pokeAll()
	return n
}

// downAfter reports whether a dial attempt after the first `after` ones
// failed with no connection open, and the error.
func (s *sender) downAfter(after uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.downSince.IsZero() && s.attempts > after, s.lastErr
}

func (s *sender) wantFlush() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushWant
}

// mayDial reports whether a worker with no connection should dial now, with
// sealed chunks waiting, or how long it may wait (0: until woken). A second
// connection is opened only when chunks pile up; if it may, the caller must
// report the attempt with dialed.
func (s *sender) mayDial(now time.Time, sealed int) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live+s.dialing > 0 && sealed < 2 {
		return false, 0
	}
	if s.probe || !now.Before(s.nextDial) {
		s.probe = false
		s.dialing++
		return true, 0
	}
	return false, s.nextDial.Sub(now)
}

// opened registers a new connection, unless the sender is stopping.
func (s *sender) opened(ac *agentConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stop:
		return false
	default:
	}
	s.conns[ac] = true
	return true
}

func (s *sender) dialed(err error) {
	s.mu.Lock()
	s.attempts++
	s.dialing--
	switch {
	case err != nil && s.ctx.Err() != nil:
		// Cancelled by shutdown: not a failure of the agent.
	case err != nil:
		s.st.dialFailures.Add(1)
		s.lastErr = err
		now := time.Now()
		if s.live == 0 && s.downSince.IsZero() {
			s.downSince = now
		}
		s.nextDial = now.Add(s.bo.next())
	default:
		s.live++
		s.downSince = time.Time{}
		s.nextDial = time.Time{}
		s.bo.reset()
	}
	s.mu.Unlock()
	s.changed.fire()
}

func (s *sender) connLost(ac *agentConn, err error) {
	s.mu.Lock()
	delete(s.conns, ac)
	s.live--
	if err != nil {
		s.lastErr = err
	}
	s.mu.Unlock()
	s.changed.fire()
}

func (s *sender) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

func (s *sender) state() (live int, lastErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, s.lastErr
}

// spillNow reports whether queued chunks should go to the fallback: the
// agent has been down for FallbackAfter, or the queue is three quarters
// full while it is down.
func (s *sender) spillNow(now time.Time) bool {
	if s.fb == nil {
		return false
	}
	s.mu.Lock()
	down := s.downSince
	s.mu.Unlock()
	if down.IsZero() {
		return false
	}
	if now.Sub(down) >= s.cfg.FallbackAfter {
		return true
	}
	_, bytes, _ := s.q.usage()
	return bytes*4 >= s.q.maxBytes*3
}

// spillQueued moves every sealed chunk to the fallback. Workers that find
// the agent down at the same moment take turns: the chunks one took from
// the queue are written before the next one takes the later ones.
func (s *sender) spillQueued() {
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	s.spill(s.q.popAll(), dropUnsent)
}

// spill writes chunks to the fallback (or drops them, with no fallback) and
// releases them.
func (s *sender) spill(cs []*chunk, noFallbackReason int) {
	for _, c := range cs {
		if s.fb == nil {
			s.st.drop(noFallbackReason, c.len())
		} else {
			written, reason, err := s.fb.write(c)
			s.st.fallback.Add(uint64(written))
			if lost := c.len() - written; lost > 0 {
				s.st.drop(reason, lost)
			}
			if err != nil {
				s.setErr(err)
			}
		}
		s.q.release(c)
	}
}

// worker owns one connection slot of the pool.
type worker struct {
	s    *sender
	wake chan struct{}
	ac   *agentConn // nil while not connected
	bufs [3][]byte  // for writev of one batch
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// sending is the worker's loop: connect when there is work, write batches,
// ask for confirmations, act on the agent's answers.
func (w *worker) sending() {
	defer w.s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.s.stop:
			if w.ac != nil {
				w.teardown(nil)
			}
			return
		default:
		}
		again, wait := w.step(time.Now())
		if again {
			continue
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-w.wake:
		case <-tc:
		case <-w.s.stop:
		}
		timer.Stop()
	}
}

// step does one piece of work. It returns again=true to be called again at
// once, else how long it may sleep at most (0: until woken).
func (w *worker) step(now time.Time) (again bool, wait time.Duration) {
	s := w.s
	ac := w.ac
	if ac == nil {
		n := s.q.sealedCount()
		if n == 0 {
			return false, 0
		}
		ok, d := s.mayDial(now, n)
		if !ok {
			if s.spillNow(now) {
				s.spillQueued()
			}
			return false, d
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
		nc, br, err := dialAgent(ctx, s.dial, s.eps, s.secret)
		cancel()
		s.dialed(err)
		if err != nil {
			return true, 0
		}
		nac := newAgentConn(nc, br, s.cfg.MinBackoff, s.cfg.MaxBackoff)
		w.ac = nac
		go nac.reading(s.st, w.poke)
		if !s.opened(nac) {
			nac.fail(errShutdown)
		}
		return true, 0
	}

	w.settle(ac)
	if ac.isDead() {
		w.teardown(ac.err)
		return true, 0
	}

	ac.mu.Lock()
	throttled := ac.throttleUntil.Sub(now)
	npending := len(ac.pending)
	unflushed, unflushedGen, unflushedSize, lastFlush := ac.unflushed, ac.unflushedGen, ac.unflushedSize, ac.lastFlush
	flushWait := ac.flushRetryAt.Sub(now)
	ac.mu.Unlock()
	if flushWait > 0 {
		// The agent answered the last flush with an error: ask again
		// once the pause is over (the ticker wakes the worker), not at
		// once.
		unflushed = false
	}
	// A due flush goes before the next batch, even while the agent answers
	// queue_full and with maxPending batches unanswered: it asks the agent
	// for no room, and without it what the agent took would stay
	// unconfirmed (charged to the queue, sent again after a reconnect) for
	// as long as batches are waiting.
	if unflushed && npending <= maxPending && w.flushDue(unflushedGen, unflushedSize, now.Sub(lastFlush)) {
		w.writeFlush(ac, now)
		return true, 0
	}
	if throttled > 0 {
		// The ticker wakes the worker when a flush falls due.
		return false, throttled
	}
	if npending < maxPending {
		if c := s.q.pop(); c != nil {
			w.writeBatch(ac, c, now)
			return true, 0
		}
	}
	return false, 0
}

// flushDue reports whether to ask the agent to confirm what this connection
// sent: a Flush waits for it (and nothing it waits for is left to send), or
// much is unconfirmed, or a flush interval has passed.
func (w *worker) flushDue(gen uint64, size int, since time.Duration) bool {
	s := w.s
	if want := s.wantFlush(); want >= gen {
		if g, ok := s.q.oldestSealedGen(); !ok || g > want {
			return true
		}
	}
	limit := max(s.q.batchBytes, int(s.q.maxBytes)/(4*len(s.workers)))
	return size >= limit || since >= s.cfg.FlushInterval
}

func (w *worker) writeBatch(ac *agentConn, c *chunk, now time.Time) {
	ac.mu.Lock()
	ac.pending = append(ac.pending, pendingItem{c: c})
	if !ac.unflushed || c.gen < ac.unflushedGen {
		ac.unflushedGen = c.gen
	}
	ac.unflushed = true
	ac.unflushedSize += len(c.buf)
	ac.mu.Unlock()
	ac.nc.SetWriteDeadline(now.Add(w.s.cfg.WriteTimeout))
	w.bufs = [3][]byte{batchPrefix, c.buf, batchSuffix}
	bufs := net.Buffers(w.bufs[:])
	if _, err := bufs.WriteTo(ac.nc); err != nil {
		ac.fail(err)
	}
}

func (w *worker) writeFlush(ac *agentConn, now time.Time) {
	ac.mu.Lock()
	ac.pending = append(ac.pending, pendingItem{flush: true})
	ac.unflushed = false
	ac.unflushedSize = 0
	ac.lastFlush = now
	ac.mu.Unlock()
	ac.nc.SetWriteDeadline(now.Add(w.s.cfg.WriteTimeout))
	if _, err := ac.nc.Write(flushLine); err != nil {
		ac.fail(err)
	}
}

// settle acts on the answers the reader matched: releases confirmed chunks,
// requeues or drops refused ones.
func (w *worker) settle(ac *agentConn) {
	s := w.s
	ac.mu.Lock()
	confirmed, outcomes, flushErr := ac.confirmed, ac.outcomes, ac.flushErr
	ac.confirmed, ac.outcomes, ac.flushErr = nil, nil, nil
	ac.mu.Unlock()
	if flushErr != nil {
		s.setErr(flushErr)
	}
	for _, c := range confirmed {
		s.st.confirmed.Add(uint64(c.len()))
		s.q.release(c)
	}
	for _, o := range outcomes {
		c, code := o.c, o.err.Code
		switch {
		case code == "queue_full":
			// Nothing of the batch was taken; send it again later.
			s.st.retry("queue_full", 1)
			s.setErr(o.err)
			ac.mu.Lock()
			ac.throttleUntil = time.Now().Add(ac.throttle.next())
			ac.mu.Unlock()
			s.q.requeue(c)
		case code == "unavailable":
			s.st.retry("unavailable", 1)
			s.q.requeue(c)
		case (code == "message_too_large" || code == "batch_too_large") && c.len() > 1:
			s.st.retry("split", 1)
			a, b := s.q.split(c)
			s.q.requeue(a, b)
		default:
			s.st.reject(code, c.len())
			s.setErr(o.err)
			s.q.release(c)
		}
	}
}

// teardown closes the connection and puts every chunk it had not got
// confirmed back in the queue, to be sent again.
func (w *worker) teardown(cause error) {
	if errors.Is(cause, errShutdown) {
		cause = nil
	}
	ac := w.ac
	w.ac = nil
	ac.fail(errShutdown)
	<-ac.readerDone
	w.settle(ac)
	ac.mu.Lock()
	var back []*chunk
	for _, it := range ac.pending {
		if !it.flush {
			back = append(back, it.c)
		}
	}
	back = append(back, ac.unconfirmed...)
	ac.pending, ac.unconfirmed = nil, nil
	ac.mu.Unlock()
	if len(back) > 0 {
		if cause != nil {
			w.s.st.retry("reconnect", len(back))
		}
		w.s.q.requeue(back...)
	}
	w.s.connLost(ac, cause)
	w.s.pokeAll()
}
