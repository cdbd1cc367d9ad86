package logflux

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// How answers are matched to batches. The agent answers nothing to a good
// batch and at most one error to a bad one, in the order of the messages on
// the connection. So every batch is written followed by a ping: an error
// that arrives before the batch's pong is that batch's, and the pong says
// the agent has read it. A flush is answered after every earlier message,
// so its answer confirms every batch ponged before it.
//
//	write:   batch₁ ping batch₂ ping flush batch₃ ping
//	answer:  pong  error₂ pong  flush-ok  pong
//	pending: [b₁ b₂ F b₃] → b₁ unconfirmed, b₂ error, F confirms b₁ …
//
// The reader goroutine only matches answers; the worker that owns the
// connection acts on them (releases, requeues), so a chunk's buffer is
// never reused while the worker may still be writing it.

// agentConn is one connection to the agent.
type agentConn struct {
	nc         net.Conn
	br         *bufio.Reader
	dead       chan struct{} // closed when the connection has failed
	readerDone chan struct{} // closed when the reader has returned
	failOnce   sync.Once
	err        error // why it failed; set before dead is closed

	mu            sync.Mutex // guards everything below
	pending       []pendingItem
	outcomes      []outcome // batches answered with an error, for the worker
	unconfirmed   []*chunk  // accepted, awaiting a flush answer
	confirmed     []*chunk  // confirmed by a flush answer, for the worker
	unflushed     bool      // a batch was written since the last flush
	unflushedGen  uint64    // oldest generation written since the last flush
	unflushedSize int       // bytes written since the last flush
	lastFlush     time.Time
	throttle      backoff   // after queue_full answers
	throttleUntil time.Time // no writes before this
	flushErr      error     // the agent answered a flush with an error
	flushRetryAt  time.Time // after such an answer: no flush before this
}

// pendingItem is a batch or a flush written and not yet answered.
type pendingItem struct {
	c     *chunk // nil for a flush
	err   *AgentError
	flush bool
}

// outcome is a batch the agent answered with an error.
type outcome struct {
	c   *chunk
	err *AgentError
}

func newAgentConn(nc net.Conn, br *bufio.Reader, minB, maxB time.Duration) *agentConn {
	return &agentConn{
		nc:         nc,
		br:         br,
		dead:       make(chan struct{}),
		readerDone: make(chan struct{}),
		lastFlush:  time.Now(),
		throttle:   backoff{min: minB, max: maxB},
	}
}

// fail marks the connection failed and closes it, which also ends a write
// or read in progress.
func (ac *agentConn) fail(err error) {
	ac.failOnce.Do(func() {
		ac.err = err
		close(ac.dead)
		ac.nc.Close()
	})
}

func (ac *agentConn) isDead() bool {
	select {
	case <-ac.dead:
		return true
	default:
		return false
	}
}

// response is any answer of the agent.
type response struct {
	Status   string `json:"status"`
	Action   string `json:"action"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Accepted int64  `json:"accepted"`
	Rejected int64  `json:"rejected"`
	Errors   []struct {
		Index   *int   `json:"index"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

var pongLine = []byte(`{"status":"pong"}`)

func parseResponse(line []byte) (*response, error) {
	line = bytes.TrimRight(line, "\r\n")
	if bytes.Equal(line, pongLine) {
		return &response{Status: "pong"}, nil
	}
	r := new(response)
	if err := json.Unmarshal(line, r); err != nil {
		return nil, fmt.Errorf("logflux: unreadable answer from the agent: %w", err)
	}
	return r, nil
}

func (r *response) agentError() *AgentError {
	e := &AgentError{Code: r.Code, Message: r.Message}
	for _, x := range r.Errors {
		idx := -1
		if x.Index != nil {
			idx = *x.Index
		}
		e.Errors = append(e.Errors, EntryError{Index: idx, Field: x.Field, Message: x.Message})
	}
	return e
}

var errProtocol = errors.New("logflux: the agent's answers do not match what was sent")

// maxAnswerBytes bounds one answer line; an error listing 100 entries is far
// smaller.
const maxAnswerBytes = 1 << 20

// readLine reads one answer line.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil || !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	long := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(long) > maxAnswerBytes {
			return nil, fmt.Errorf("logflux: agent answer longer than %d bytes", maxAnswerBytes)
		}
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

// reading matches the agent's answers to what was written, until the
// connection fails. poke wakes the owning worker.
func (ac *agentConn) reading(st *counters, poke func()) {
	defer close(ac.readerDone)
	defer poke()
	for {
		line, err := readLine(ac.br)
		if len(bytes.TrimSpace(line)) == 0 && err == nil {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("logflux: the agent closed the connection")
			}
			ac.fail(err)
			return
		}
		r, err := parseResponse(line)
		if err == nil {
			err = ac.match(r, st)
		}
		if err != nil {
			ac.fail(err)
			return
		}
		poke()
	}
}

// match applies one answer to the oldest pending item.
func (ac *agentConn) match(r *response, st *counters) error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if len(ac.pending) == 0 {
		if r.Status == "error" {
			// Unsolicited: the agent is about to close the connection
			// (unavailable, or an auth problem).
			return r.agentError()
		}
		return nil
	}
	head := &ac.pending[0]
	switch {
	case r.Status == "pong":
		if head.flush {
			return errProtocol
		}
		item := ac.shift()
		switch {
		case item.err == nil:
			st.accepted.Add(uint64(item.c.len()))
			ac.unconfirmed = append(ac.unconfirmed, item.c)
			ac.throttle.reset()
		case item.err.Code == "invalid_entry" && len(item.err.Errors) > 0:
			// The valid entries were accepted.
			bad := badIndexes(item.err, item.c.len())
			st.reject(item.err.Code, bad)
			st.accepted.Add(uint64(item.c.len() - bad))
			ac.unconfirmed = append(ac.unconfirmed, item.c)
		default:
			ac.outcomes = append(ac.outcomes, outcome{item.c, item.err})
		}
	case r.Status == "success" && r.Action == "flush":
		if !head.flush {
			return errProtocol
		}
		ac.shift()
		ac.confirmed = append(ac.confirmed, ac.unconfirmed...)
		clear(ac.unconfirmed)
		ac.unconfirmed = ac.unconfirmed[:0]
	case r.Status == "error":
		if head.flush {
			ac.shift()
			ac.flushErr = r.agentError()
			if r.Code == "unknown_action" {
				// An agent without the flush extension: the batches were
				// accepted, but nothing more can be known; take them as
				// confirmed rather than resend them forever.
				ac.confirmed = append(ac.confirmed, ac.unconfirmed...)
				clear(ac.unconfirmed)
				ac.unconfirmed = ac.unconfirmed[:0]
			}
			// Any other answer (unavailable: the agent could not make its
			// queue durable) confirms nothing: the entries stay unconfirmed,
			// and a later flush must cover them again.
			ac.flushRetryAt = time.Now().Add(flushRetryPause)
			for _, c := range ac.unconfirmed {
				if !ac.unflushed || c.gen < ac.unflushedGen {
					ac.unflushedGen = c.gen
				}
				ac.unflushed = true
			}
			return nil
		}
		if head.err == nil {
			head.err = r.agentError()
		}
	}
	return nil
}

// flushRetryPause is how long after a flush answered with an error the
// next one is written.
const flushRetryPause = 100 * time.Millisecond

func (ac *agentConn) shift() pendingItem {
	item := ac.pending[0]
	ac.pending[0] = pendingItem{}
	ac.pending = ac.pending[1:]
	return item
}

// badIndexes counts the distinct entries an invalid_entry error names.
func badIndexes(e *AgentError, n int) int {
	seen := make(map[int]bool, len(e.Errors))
	for _, x := range e.Errors {
		if x.Index >= 0 && x.Index < n {
			seen[x.Index] = true
		}
	}
	if len(seen) == 0 {
		return n
	}
	return len(seen)
}

// dialAgent connects to the first endpoint that answers and, on TCP,
// authenticates with secret.
func dialAgent(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), eps []endpoint, secret string) (net.Conn, *bufio.Reader, error) {
	var errs []error
	for _, ep := range eps {
		nc, err := dial(ctx, ep.network, ep.address)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		br := bufio.NewReaderSize(nc, 4096)
		if ep.network == "tcp" {
			if err := authenticate(ctx, nc, br, secret); err != nil {
				nc.Close()
				return nil, nil, fmt.Errorf("logflux: %s: %w", ep, err)
			}
		}
		return nc, br, nil
	}
	return nil, nil, fmt.Errorf("logflux: cannot connect to the agent: %w", errors.Join(errs...))
}

// authenticate sends the shared secret, which must be the first message on
// a TCP connection, and reads the agent's verdict.
func authenticate(ctx context.Context, nc net.Conn, br *bufio.Reader, secret string) error {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// Cancelling ctx (Close) ends the wait for the answer at once.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer func() {
		if stop() {
			nc.SetDeadline(time.Time{})
		}
	}()
	msg := append([]byte(`{"version":"1.0","action":"authenticate","shared_secret":`), appendString(nil, secret)...)
	msg = append(msg, "}\n"...)
	if _, err := nc.Write(msg); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("authenticate: no answer: %w", err)
	}
	r, err := parseResponse(line)
	if err != nil {
		return err
	}
	if r.Status == "success" {
		return nil
	}
	if r.Status == "error" {
		return r.agentError()
	}
	return fmt.Errorf("authenticate: unexpected answer %q", bytes.TrimSpace(line))
}
