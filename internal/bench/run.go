package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/client"
)

// paceTick is the shortest sleep of a paced connection.
const paceTick = 5 * time.Millisecond

// maxChunk bounds one write: large enough to cost few system calls, small
// enough that pacing and --duration stay accurate.
const maxChunk = 256 << 10

// Run sends one workload (a sweep's Connections and Batch are ignored: see
// Sweep) and measures it. With opts.Spawn it starts the target first and
// stops it afterwards. A Result may come back together with an error when
// the run went wrong part way (a connection closed, entries missing); it then
// holds what was measured.
func Run(ctx context.Context, opts Options, progress io.Writer) (*Result, error) {
	opts.SweepConnections, opts.SweepBatch = nil, nil
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	network, address, _ := client.ParseAddr(opts.Addr)
	res := &Result{
		Label:        opts.Label,
		Addr:         opts.Addr,
		Transport:    network,
		Connections:  opts.Connections,
		Batch:        opts.Batch,
		PayloadBytes: opts.PayloadBytes,
		TargetRate:   opts.Rate,
	}

	if opts.SyncFirst {
		syscall.Sync()
	}

	// The target process: started here, given, or found by its socket.
	pid := opts.PID
	if opts.Spawn != "" {
		sp, err := spawn(ctx, opts.Spawn, opts.Addr, opts.Secret)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := sp.stop(30 * time.Second); err != nil {
				fmt.Fprintf(progress, "bench: stopping the spawned target: %v\n", err)
			}
		}()
		pid = sp.pid()
	} else if pid == 0 {
		p, err := FindListener(network, address)
		if err != nil {
			fmt.Fprintf(progress, "bench: the target's CPU and memory are not measured: %v (give --pid)\n", err)
		}
		pid = p
	}
	var target *usageMeter
	if pid > 0 {
		target = newUsageMeter(pid)
		res.Target = &target.u
		if res.Label == "" {
			res.Label = target.u.Name
		}
	}
	self := newUsageMeter(os.Getpid())
	res.Generator = self.u

	// Everything is encoded and connected before the clock starts.
	per := splitCount(opts.Count, opts.Connections)
	messagesNeeded := int64(math.MaxInt64) // bounded by the duration
	if opts.Count > 0 {
		messagesNeeded = (opts.Count + int64(opts.Batch) - 1) / int64(opts.Batch)
	}
	rg := newRing(opts.Batch, opts.PayloadBytes, messagesNeeded, opts.Seed)
	tail := newGen(opts.Seed+1, opts.PayloadBytes)
	conns := make([]*worker, opts.Connections)
	for i := range conns {
		c, err := client.Dial(opts.Addr, opts.Secret, 10*time.Second)
		if err != nil {
			for _, w := range conns[:i] {
				w.c.Close()
			}
			return nil, err
		}
		w := &worker{opts: &opts, c: c, ring: rg, pos: i * rg.len() / opts.Connections, entries: per[i], flushCh: make(chan *client.Response, 1)}
		if opts.Count > 0 {
			if rem := int(per[i] % int64(opts.Batch)); rem > 0 {
				w.tailMsg = tail.message(nil, rem)
			}
		}
		conns[i] = w
	}
	defer func() {
		for _, w := range conns {
			w.c.Close()
		}
	}()

	// The output file to watch, from its current end.
	var fl *follower
	var flCancel context.CancelFunc = func() {}
	if opts.VerifyFile != "" {
		var err error
		if fl, err = newFollower(opts.VerifyFile); err != nil {
			return nil, fmt.Errorf("--verify-file: %w", err)
		}
	}

	if target != nil {
		target.start()
		res.Target = &target.u
	}
	self.start()
	var (
		start = time.Now()
		sent  atomic.Int64 // entries, for progress
		sentB atomic.Int64 // bytes, for progress
		wg    sync.WaitGroup
	)
	res.Started = start.UTC()
	if fl != nil {
		fctx, cancel := context.WithCancel(context.Background())
		flCancel = cancel
		go fl.run(fctx)
	}
	defer flCancel()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, w := range conns {
		w.sent, w.sentBytes = &sent, &sentB
		w.start = start
		wg.Add(2)
		go func() { defer wg.Done(); w.reading() }()
		go func() {
			defer wg.Done()
			w.err = w.writing(rctx)
			if w.err != nil && !errors.Is(w.err, context.Canceled) {
				cancel() // one broken connection ends the run
			}
		}()
	}
	stopProgress := startProgress(progress, opts.Interval, func() snapshot {
		s := snapshot{elapsed: time.Since(start), entries: sent.Load(), bytes: sentB.Load(), verifyTarget: -1}
		if fl != nil {
			s.landed = fl.lines.Load()
			s.verifyTarget = fl.target.Load()
		}
		return s
	})
	wg.Wait() // writers and readers: readers end once the connection closes

	// What was sent, and what the agent said about it.
	var errs []error
	var flushes []time.Duration
	var sendEnd, acceptEnd time.Time
	res.Errors = map[string]int64{}
	var accepted, rejected int64
	answered := opts.FlushAtEnd
	for _, w := range conns {
		res.Entries += w.nEntries
		res.Messages += w.nMessages
		res.Bytes += w.nBytes
		flushes = append(flushes, w.flushes...)
		if w.sendEnd.After(sendEnd) {
			sendEnd = w.sendEnd
		}
		if w.acceptEnd.After(acceptEnd) {
			acceptEnd = w.acceptEnd
		}
		for code, n := range w.errCodes {
			res.Errors[code] += n
		}
		if w.final == nil {
			answered = false
		} else {
			accepted += *w.final.Accepted
			rejected += *w.final.Rejected
		}
		if w.err != nil && !errors.Is(w.err, context.Canceled) {
			errs = append(errs, w.err)
		}
	}
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	if sendEnd.IsZero() {
		sendEnd = time.Now()
	}
	res.SendSeconds = sendEnd.Sub(start).Seconds()
	if res.SendSeconds > 0 {
		res.EntriesPerSec = float64(res.Entries) / res.SendSeconds
		res.MBPerSec = float64(res.Bytes) / 1e6 / res.SendSeconds
	}
	if res.Entries > 0 {
		res.BytesPerEntry = float64(res.Bytes) / float64(res.Entries)
	}
	res.Flush = Summarize(flushes)
	if answered {
		res.Accepted, res.Rejected = &accepted, &rejected
		res.AcceptSeconds = acceptEnd.Sub(start).Seconds()
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}

	// End to end: wait for the lines to land.
	if fl != nil {
		expect := opts.VerifyCount
		if expect == 0 {
			expect = res.Entries
			if res.Accepted != nil {
				expect = *res.Accepted
			}
		}
		fl.setTarget(expect)
		select {
		case <-fl.done:
		case <-ctx.Done():
		case <-time.After(opts.VerifyTimeout):
			fmt.Fprintf(progress, "bench: gave up waiting for %s after %s\n", opts.VerifyFile, opts.VerifyTimeout)
		}
		flCancel()
		<-fl.done
		lines, last, reached, ferr := fl.state()
		v := &Verify{File: opts.VerifyFile, Expected: expect, Arrived: lines, Complete: !reached.IsZero()}
		end := reached
		if end.IsZero() {
			end = last
		}
		if !end.IsZero() {
			v.Seconds = end.Sub(start).Seconds()
			if v.Seconds > 0 {
				v.EntriesPerSec = float64(min(lines, expect)) / v.Seconds
			}
		}
		res.Verify = v
		if ferr != nil {
			errs = append(errs, fmt.Errorf("following %s: %w", opts.VerifyFile, ferr))
		}
		if !v.Complete {
			errs = append(errs, fmt.Errorf("%d of %d entries arrived in %s", lines, expect, opts.VerifyFile))
		}
	}

	stopProgress()

	// The target's and the bench's own use of the machine.
	if target != nil {
		if err := target.finish(); err != nil {
			errs = append(errs, fmt.Errorf("measuring pid %d: %w", pid, err))
		}
		res.Target = &target.u
		if res.Target.CPUSeconds > 0 {
			res.Target.EntriesPerCPUSecond = float64(res.delivered()) / res.Target.CPUSeconds
		}
	}
	if err := self.finish(); err == nil {
		res.Generator = self.u
	}
	if target != nil && pid == os.Getpid() {
		res.Target.InProcess = true
	}
	for _, e := range errs {
		res.Failures = append(res.Failures, e.Error())
	}
	return res, errors.Join(errs...)
}

// splitCount shares count entries among n connections (nil slots of 0 mean
// no count: the run is bounded by its duration).
func splitCount(count int64, n int) []int64 {
	out := make([]int64, n)
	if count <= 0 {
		return out
	}
	for i := range out {
		out[i] = count / int64(n)
		if int64(i) < count%int64(n) {
			out[i]++
		}
	}
	return out
}

// worker is one connection: a writer walking the ring and a reader taking
// the agent's answers.
type worker struct {
	opts    *Options
	c       *client.Conn
	ring    *ring
	pos     int    // next message of the ring
	entries int64  // to send; 0 = until the duration ends
	tailMsg []byte // the last, shorter batch when entries is not a multiple of the batch size

	start           time.Time
	sent, sentBytes *atomic.Int64
	flushCh         chan *client.Response
	errCodes        map[string]int64 // written by the reader only
	readErr         error
	nEntries        int64
	nMessages       int64
	nBytes          int64
	flushes         []time.Duration
	final           *client.Response // the answer to the closing flush
	sendEnd         time.Time
	acceptEnd       time.Time
	err             error
}

// reading takes every answer: flush answers go to the writer, errors are
// counted by code. It ends when the connection closes.
func (w *worker) reading() {
	w.errCodes = map[string]int64{}
	for {
		resp, err := w.c.Read(0)
		if err != nil {
			w.readErr = err
			close(w.flushCh)
			return
		}
		switch {
		case resp.Action == "flush" && resp.Status == "success":
			w.flushCh <- resp
		case resp.Status == "error":
			code := resp.Code
			if code == "" {
				code = "error"
			}
			w.errCodes[code]++
		}
	}
}

// writing sends the workload, paced when a rate is set, with the flushes
// asked for, and finally closes its side for writing.
func (w *worker) writing(ctx context.Context) error {
	nc := w.c.NetConn()
	stop := context.AfterFunc(ctx, func() { nc.SetWriteDeadline(time.Now()) })
	defer stop()
	defer w.closeWrite()

	o := w.opts
	batch := int64(o.Batch)
	var rate float64 // entries per second on this connection
	if o.Rate > 0 {
		rate = o.Rate / float64(o.Connections)
	}
	nextFlush := int64(-1)
	if o.FlushEvery > 0 {
		nextFlush = o.FlushEvery
	}
	fullMessages := int64(-1) // ring messages still to send; -1 = unbounded
	if w.entries > 0 {
		fullMessages = w.entries / batch
	}
	var deadline time.Time
	if o.Duration > 0 {
		deadline = w.start.Add(o.Duration)
	}
	for fullMessages != 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		// How many messages may go now.
		k := int64(w.ring.len() - w.pos) // up to the ring's end
		if fullMessages > 0 {
			k = min(k, fullMessages)
		}
		if nextFlush > 0 {
			k = min(k, max(1, (nextFlush-w.nEntries+batch-1)/batch))
		}
		if rate > 0 {
			due := int64(now.Sub(w.start).Seconds()*rate/float64(batch)) + 1 - w.nMessages
			if due <= 0 {
				wake := w.start.Add(time.Duration(float64(w.nMessages*batch) / rate * float64(time.Second)))
				// Wake at most once per paceTick and send what is due by
				// then: sleeping per message would cost more CPU than sending.
				wake = later(wake, now.Add(paceTick))
				if !deadline.IsZero() && wake.After(deadline) {
					wake = deadline
				}
				sleep(ctx, time.Until(wake))
				continue
			}
			k = min(k, due)
		}
		// Whole messages, at most maxChunk bytes (at least one message).
		from := w.ring.start(w.pos)
		to := w.pos + int(k)
		for to > w.pos+1 && w.ring.ends[to-1]-from > maxChunk {
			to = w.pos + (to-w.pos)/2
		}
		chunk := w.ring.buf[from:w.ring.ends[to-1]]
		n := int64(to - w.pos)
		if err := w.write(chunk, n*batch, n); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // another connection failed first, or the run was stopped
			}
			return err
		}
		w.pos = to % w.ring.len()
		if fullMessages > 0 {
			fullMessages -= n
		}
		if nextFlush > 0 && w.nEntries >= nextFlush {
			d, _, err := w.flush(ctx)
			if err != nil {
				return err
			}
			w.flushes = append(w.flushes, d)
			nextFlush += o.FlushEvery
		}
	}
	if w.tailMsg != nil && (deadline.IsZero() || time.Now().Before(deadline)) {
		if err := w.write(w.tailMsg, int64(w.entries%batch), 1); err != nil {
			return err
		}
	}
	w.sendEnd = time.Now()
	if o.FlushAtEnd {
		_, resp, err := w.flush(ctx)
		if err != nil {
			return err
		}
		w.final, w.acceptEnd = resp, time.Now()
	}
	return nil
}

func (w *worker) write(b []byte, entries, messages int64) error {
	if _, err := w.c.NetConn().Write(b); err != nil {
		return fmt.Errorf("connection %s: after %d entries: %w", w.c.Address, w.nEntries, err)
	}
	w.nEntries += entries
	w.nMessages += messages
	w.nBytes += int64(len(b))
	w.sent.Add(entries)
	w.sentBytes.Add(int64(len(b)))
	return nil
}

// flush sends a flush and waits for its answer: the time between is the
// flush latency.
func (w *worker) flush(ctx context.Context) (time.Duration, *client.Response, error) {
	t0 := time.Now()
	if _, err := w.c.NetConn().Write(flushLine); err != nil {
		return 0, nil, fmt.Errorf("sending a flush: %w", err)
	}
	timer := time.NewTimer(w.opts.FlushTimeout)
	defer timer.Stop()
	select {
	case resp, ok := <-w.flushCh:
		if !ok {
			return 0, nil, fmt.Errorf("the connection closed before the flush was answered: %v", w.readErr)
		}
		d := time.Since(t0)
		if resp.Accepted == nil || resp.Rejected == nil {
			return d, nil, fmt.Errorf("flush answer without counts: %s", resp.Raw)
		}
		return d, resp, nil
	case <-timer.C:
		return 0, nil, fmt.Errorf("no answer to a flush within %s (does the target speak the Agent API? use --flush-at-end=false for peers)", w.opts.FlushTimeout)
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// closeWrite half-closes the connection, so that a peer which never answers
// still ends the reader once it closes its side, and closes it fully soon
// after if it does not.
func (w *worker) closeWrite() {
	type halfCloser interface{ CloseWrite() error }
	if hc, ok := w.c.NetConn().(halfCloser); ok && hc.CloseWrite() == nil {
		w.c.NetConn().SetReadDeadline(time.Now().Add(2 * time.Second))
		return
	}
	w.c.Close()
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
