package logflux

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Client sends entries to the LogFlux agent. It is safe for use by many
// goroutines at once.
//
// Lifecycle:
//  1. New validates the Config and starts the background sender; it does
//     not connect yet.
//  2. Log and the slog Handler encode entries and queue them, never waiting
//     on the network (unless Config.Block is set and the queue is full).
//  3. The sender batches queued entries (at most 100 per batch) and writes
//     them to the agent within Config.FlushInterval, reconnecting with
//     capped, jittered backoff when the agent goes away.
//  4. Flush waits until the agent has confirmed everything logged before it
//     durable.
//  5. Close flushes, stops the sender and writes what is left to the
//     fallback, if any. Closing twice is harmless.
type Client struct {
	cfg     Config
	q       *queue
	s       *sender
	fb      *fallback
	st      *counters
	changed *signal

	closing   atomic.Bool
	stopped   chan struct{} // closed once the sender has stopped
	closeOnce sync.Once
	closeErr  error
}

// New returns a client for the agent that cfg describes (see Config.Addr
// for discovery). It fails only on a bad configuration: an unreachable agent
// is not an error until Flush.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	eps, err := discover(cfg.Addr, os.Getenv)
	if err != nil {
		return nil, err
	}
	secret := cfg.SharedSecret
	if secret == "" {
		secret = os.Getenv(EnvSharedSecret)
	}
	if secret == "" && len(eps) == 1 && eps[0].network == "tcp" {
		return nil, fmt.Errorf("logflux: %s needs a shared secret (Config.SharedSecret or %s)", eps[0], EnvSharedSecret)
	}
	c := &Client{
		cfg:     cfg,
		st:      new(counters),
		changed: new(signal),
		stopped: make(chan struct{}),
	}
	c.q = newQueue(cfg.QueueBytes, cfg.BatchBytes, c.changed)
	c.fb = newFallback(&c.cfg)
	c.s = newSender(&c.cfg, c.q, c.st, c.changed, c.fb, eps, secret)
	c.s.start()
	return c, nil
}

// Log queues one entry; see Entry for the defaults of zero fields. It never
// waits on the network. When the entry cannot be queued it is dropped,
// counted in Stats.Dropped, and Log returns an error matching ErrQueueFull,
// ErrClosed or ErrInvalidEntry. ctx matters only with Config.Block, where
// Log waits for room in a full queue until ctx is done.
func (c *Client) Log(ctx context.Context, e Entry) error {
	if c.closing.Load() {
		c.st.drop(dropClosed, 1)
		return ErrClosed
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now()
	}
	if err := normalize(&e, c.cfg.Source); err != nil {
		c.st.drop(dropInvalid, 1)
		return err
	}
	bp := getBuf()
	*bp = appendEntry((*bp)[:0], &e)
	var done <-chan struct{}
	if c.cfg.Block && ctx != nil {
		done = ctx.Done()
	}
	err := c.enqueue(*bp, done)
	putBuf(bp)
	if err != nil && ctx != nil && ctx.Err() != nil && errors.Is(err, ErrQueueFull) {
		err = fmt.Errorf("%w: %w", ErrQueueFull, ctx.Err())
	}
	return err
}

// enqueue copies one encoded entry into the queue. With Config.Block it
// waits for room until done is closed (nil: until Close).
func (c *Client) enqueue(enc []byte, done <-chan struct{}) error {
	if len(enc)+len(batchPrefix)+len(batchSuffix) > maxLineBytes {
		c.st.drop(dropInvalid, 1)
		return fmt.Errorf("%w: encoded entry is %d bytes, too long for one line", ErrInvalidEntry, len(enc))
	}
	var wait <-chan struct{}
	for {
		sealed, err := c.q.push(enc)
		if sealed || err == ErrQueueFull {
			c.s.pokeAll()
		}
		switch {
		case err == nil:
			return nil
		case err == ErrClosed:
			c.st.drop(dropClosed, 1)
			return ErrClosed
		case !c.cfg.Block:
			c.st.drop(dropQueueFull, 1)
			return ErrQueueFull
		case wait == nil:
			// Register before trying again, so a release in between
			// is not missed.
			wait = c.changed.wait()
			continue
		}
		select {
		case <-wait:
			wait = nil
		case <-done:
			c.st.drop(dropQueueFull, 1)
			return ErrQueueFull
		case <-c.stopped:
			c.st.drop(dropClosed, 1)
			return ErrClosed
		}
	}
}

// Flush returns once the agent has confirmed, with the flush action of the
// Agent API, that every entry logged before the call is durable. Entries
// the agent refused (Stats.Rejected) or that went to the fallback count as
// done. Batches lost with a connection are sent again on another one.
//
// When the agent cannot be reached, Flush makes one connection attempt and
// fails at once with an error matching ErrUnavailable (and the cause, such
// as ErrAuthFailed); the entries stay queued. While the agent answers
// queue_full, Flush waits for the refused batches to get through (what the
// agent did take is confirmed meanwhile). It returns ctx's error if ctx ends
// first, and ErrClosed after Close.
func (c *Client) Flush(ctx context.Context) error {
	if c.closing.Load() {
		return ErrClosed
	}
	return c.flush(ctx)
}

func (c *Client) flush(ctx context.Context) error {
	gen, pending := c.q.sealForFlush()
	if !pending {
		return nil
	}
	attempts := c.s.requestFlush(gen)
	for {
		wait := c.changed.wait()
		if !c.q.pending(gen) {
			return nil
		}
		if down, err := c.s.downAfter(attempts); down {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("logflux: flush: %w", ctx.Err())
		case <-c.stopped:
			return ErrClosed
		}
	}
}

// Close flushes (bounded by ctx), stops the sender and closes the
// connections. Entries still unconfirmed then go to the fallback, or are
// dropped and counted as "unsent" without one. It returns the flush's
// error, if any. Calling Close again returns the same result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(ctx) })
	return c.closeErr
}

func (c *Client) close(ctx context.Context) error {
	c.closing.Store(true)
	c.q.markClosed()
	err := c.flush(ctx)
	c.s.shutdown()
	rest := c.q.drain()
	n := 0
	for _, ch := range rest {
		n += ch.len()
	}
	before := c.st.fallback.Load()
	c.s.spill(rest, dropUnsent)
	saved := int(c.st.fallback.Load() - before)
	close(c.stopped)
	c.changed.fire()
	if ferr := c.fb.close(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil && n > 0 {
		where := fmt.Sprintf("%d dropped", n)
		if c.fb != nil {
			where = fmt.Sprintf("%d written to the %s fallback, %d dropped", saved, c.cfg.Fallback, n-saved)
		}
		err = fmt.Errorf("logflux: close: %d entries not confirmed by the agent (%s): %w", n, where, err)
	}
	return err
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	var s Stats
	s.Queued, s.QueuedBytes, s.Logged = c.q.usage()
	c.st.fill(&s)
	s.Connections, s.LastError = c.s.state()
	return s
}

// bufPool holds the buffers entries are encoded into on the caller's
// goroutine before they are copied into the queue.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}
