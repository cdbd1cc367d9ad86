// Package syslog is the syslog input: RFC 5424 and RFC 3164 messages over UDP, TCP (octet-counted or newline-framed, optionally TLS) and a Unix datagram socket, turned into entries with payloadType syslog.
//
// Each message is parsed with github.com/leodido/go-syslog (the format told
// per message), except RFC 5424 messages of the plain shape, which a fast
// path reads into the same fields (fast.go); severity 0-7 becomes logLevel 1-8, and the facility,
// hostname, app-name, procid, msgid and structured data become metadata. A
// message that does not parse is kept whole as the payload, with
// syslog.parse_error saying why. Syslog has no acknowledgements: what the
// input read is appended as soon as the socket has nothing more to give (or
// within flushInterval on datagram sockets); when the queue is full the
// input stops reading, so a TCP sender is slowed and a datagram sender's
// messages wait in (and may overflow) the kernel's socket buffer.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/entrybuild"
	"github.com/logflux/agent/internal/input/tlsreload"
)

// Type is the input type's name in configurations.
const Type = "syslog"

// flushInterval is about the longest a datagram waits in the input before
// it is appended, when no more arrive to fill a batch: a read after it
// appends the batch, and a read that waited this long for a first datagram
// returns (over UDP on Linux that wait starts with each read, so a datagram
// may wait up to twice this long).
const flushInterval = 5 * time.Millisecond

// gatherDelay is how long a UDP reader that emptied the socket pauses
// before reading again (Linux): at 300,000 datagrams a second that gathers
// about two batches (150 KiB of messages in the socket's buffer, far below
// its size), so that the reader wakes once for them instead of once for
// each; it adds at most this much to an entry's way.
const gatherDelay = 500 * time.Microsecond

// Factory makes syslog inputs.
type Factory struct{}

var _ input.Factory = Factory{}

// Type is "syslog".
func (Factory) Type() string { return Type }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config { return defaults() }

// New builds the input without opening anything.
func (Factory) New(cfg component.Config, set component.Settings) (input.Input, error) {
	c := *cfg.(*Config)
	in := &Input{name: set.Name, log: set.Log, maxAppend: set.MaxAppendBytes, filter: set.Filter, conns: map[net.Conn]struct{}{}}
	if in.log == nil {
		in.log = slog.Default()
	}
	in.cfg.Store(&c)
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.ctr.Register(set.Metrics, "Syslog messages read.")
	set.Metrics.Func("messages_unparsed", "Messages that did not parse as RFC 5424 or RFC 3164, kept whole as the payload.", component.Counter, in.unparsed.Load)
	set.Metrics.Func("connections_open", "TCP connections open now.", component.Gauge, in.connsOpen.Load)
	set.Metrics.Func("connections_refused", "TCP connections closed at once because max_connections were open.", component.Counter, in.connsRefused.Load)
	set.Metrics.Func("kernel_drops", "Datagrams the kernel dropped because the socket's receive buffer was full (udp:// only; from /proc/net/udp, for the socket open now).", component.Counter, in.kernelDrops)
	set.Metrics.Func("queue_full_pauses", "Times reading paused because the queue was full.", component.Counter, in.pauses.Load)
	return in, nil
}

// Input is one syslog input.
type Input struct {
	name      string
	log       *slog.Logger
	maxAppend int
	filter    component.EntryFilter // the agent's redaction rules
	cfg       atomic.Pointer[Config]

	ctx    context.Context // ends when Shutdown gives up waiting
	cancel context.CancelFunc
	sink   input.Sink
	wg     sync.WaitGroup

	mu       sync.Mutex
	ln       *listener
	conns    map[net.Conn]struct{}
	shutdown bool

	ctr          entrybuild.Counters
	unparsed     atomic.Int64
	connsOpen    atomic.Int64
	connsRefused atomic.Int64
	pauses       atomic.Int64
}

var (
	_ input.Input          = (*Input)(nil)
	_ input.Reconfigurer   = (*Input)(nil)
	_ input.StatusReporter = (*Input)(nil)
)

// listener is an open socket: a stream listener (tcp), a UDP socket
// outside the poller (Linux) or a packet connection (unixgram, and udp
// elsewhere).
type listener struct {
	key    string
	url    string
	stream net.Listener
	udp    *udpSocket
	packet net.PacketConn
	path   string // a Unix socket file to remove on close
	inode  uint64 // a UDP socket's, for its kernel drops
	closed atomic.Bool
}

// receiveBuffer sets the socket's receive buffer (bursts wait there while
// a batch is appended) and says so when the kernel granted less.
func receiveBuffer(pc net.PacketConn, c *Config, log *slog.Logger) {
	asked := int(c.ReceiveBuffer)
	granted, err := setReceiveBuffer(pc, asked)
	switch {
	case err != nil:
		log.Warn("syslog receive buffer not set", "error", err)
	case granted > 0 && granted < 2*asked:
		log.Info("syslog receive buffer smaller than configured", "detail", describeBuffer(asked, granted))
	}
}

func (l *listener) close() {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	if l.stream != nil {
		l.stream.Close()
	}
	if l.udp != nil {
		l.udp.close()
	}
	if l.packet != nil {
		l.packet.Close()
	}
	if l.path != "" {
		os.Remove(l.path)
	}
}

// kernelDrops is the UDP socket's kernel drop count, 0 when unknown.
func (in *Input) kernelDrops() int64 {
	in.mu.Lock()
	ino := uint64(0)
	if in.ln != nil {
		ino = in.ln.inode
	}
	in.mu.Unlock()
	return max(0, kernelDrops(ino))
}

// Name returns the input's name.
func (in *Input) Name() string { return in.name }

// Counters are the input's entry counters.
func (in *Input) Counters() *entrybuild.Counters { return &in.ctr }

// Start opens the socket and reads it.
func (in *Input) Start(_ context.Context, sink input.Sink) error {
	c := in.cfg.Load()
	ln, err := open(c, in.log)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.sink = sink
	in.serve(ln)
	return nil
}

// open opens the socket c describes.
func open(c *Config, log *slog.Logger) (*listener, error) {
	l := &listener{key: c.listenerKey()}
	switch c.network {
	case "udp":
		pc, err := net.ListenPacket("udp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		receiveBuffer(pc, c, log)
		l.url, l.inode = "udp://"+pc.LocalAddr().String(), socketInode(pc)
		if l.udp, err = detachUDP(pc.(*net.UDPConn)); err != nil {
			pc.Close()
			return nil, fmt.Errorf("syslog: %w", err)
		}
		if l.udp == nil {
			l.packet = pc
		}
	case "tcp":
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		l.url = "tcp://" + ln.Addr().String()
		if c.TLS.Enabled() {
			src, err := tlsreload.NewSource(c.TLS, log)
			if err != nil {
				ln.Close()
				return nil, fmt.Errorf("syslog: %w", err)
			}
			ln = src.Wrap(ln)
			l.url = "tls://" + ln.Addr().String()
		}
		l.stream = ln
	case "unixgram":
		if err := removeStale(c.addr); err != nil {
			return nil, err
		}
		pc, err := net.ListenPacket("unixgram", c.addr)
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		if err := os.Chmod(c.addr, os.FileMode(c.SocketMode)); err != nil {
			pc.Close()
			os.Remove(c.addr)
			return nil, fmt.Errorf("syslog: %w", err)
		}
		receiveBuffer(pc, c, log)
		l.packet, l.url, l.path = pc, "unix://"+c.addr, c.addr
	default:
		return nil, errors.New("syslog: the configuration was not validated")
	}
	return l, nil
}

// removeStale removes a socket file nobody listens on; a live one is an
// error (another program owns it).
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("syslog: %s exists and is not a socket", path)
	}
	if c, err := net.Dial("unixgram", path); err == nil {
		c.Close()
		return fmt.Errorf("syslog: another program is listening on %s", path)
	}
	return os.Remove(path)
}

// serve starts reading ln and closes the listener it replaces. Called with
// in.mu held.
func (in *Input) serve(ln *listener) {
	if old := in.ln; old != nil {
		old.close()
	}
	in.ln = ln
	in.wg.Add(1)
	if ln.stream == nil {
		go in.readPackets(ln)
	} else {
		go in.accept(ln)
	}
	in.log.Info("listening", "address", ln.url)
}

// readPackets reads datagrams, one message each, appending a batch when
// it is full or flushInterval after its first message.
func (in *Input) readPackets(ln *listener) {
	defer in.wg.Done()
	c := in.cfg.Load()
	p := newParser(c)
	b := entrybuild.New(in.name, in.maxAppend, in.filter)
	var d packetReader
	if ln.udp != nil {
		d = ln.udp.reader(int(c.MaxMessageBytes))
	} else {
		d = newDatagrams(ln.packet, int(c.MaxMessageBytes))
	}
	var since time.Time // when the oldest message not yet appended was read
	for {
		k, err := d.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if b.Len() > 0 {
					in.flush(b)
					since = time.Time{}
				}
				d.wait(0) // nothing gathered: wait for the next datagram
				continue
			}
			if ln.closed.Load() || errors.Is(err, net.ErrClosed) {
				in.flush(b)
				return
			}
			in.log.Warn("syslog read failed", "error", err)
			continue
		}
		if nc := in.cfg.Load(); nc != c { // reloaded
			c, p = nc, newParser(nc)
			d.setMax(int(c.MaxMessageBytes))
		}
		now := time.Now()
		if since.IsZero() {
			since = now
			b.Received(now)
			d.wait(flushInterval)
		}
		for i := range k {
			msg, cut, n, peer := d.message(i)
			in.add(b, p, msg, cut, n, peer)
		}
		if b.Full() || now.Sub(since) >= flushInterval {
			in.flush(b)
			since = time.Time{}
		}
		d.caughtUp(k)
	}
}

// add parses one message and gathers its entry.
func (in *Input) add(b *entrybuild.Builder, p *parser, raw []byte, cut bool, n int, peer string) {
	in.ctr.Read.Add(1)
	in.ctr.Bytes.Add(int64(n))
	f, parsed := p.parse(raw, peer)
	if !parsed {
		in.unparsed.Add(1)
	}
	if cut {
		f.Metadata = append(f.Metadata, entrybuild.KV{Key: entrybuild.TruncatedKey, Value: fmt.Sprint(n)})
	}
	truncated, err := b.Add(f)
	if truncated || cut {
		in.ctr.Truncated.Add(1)
	}
	if err != nil {
		in.ctr.Reject(entrybuild.ReasonInvalid, 1)
		in.log.Warn("syslog message refused", "error", err)
	}
}

// flush appends what b gathered, waiting while the queue is full.
func (in *Input) flush(b *entrybuild.Builder) {
	n := b.Len()
	if n == 0 {
		return
	}
	if err := b.AppendWaiting(in.ctx, in.sink, func() { in.pauses.Add(1) }); err != nil {
		in.log.Error("syslog messages lost: the queue did not take them before shutdown", "entries", n, "error", err)
		b.Reset()
		return
	}
	in.ctr.Accepted.Add(int64(n))
}

func (in *Input) accept(ln *listener) {
	defer in.wg.Done()
	for {
		conn, err := ln.stream.Accept()
		if err != nil {
			if ln.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			in.log.Warn("syslog accept failed", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		in.mu.Lock()
		if in.shutdown || len(in.conns) >= in.cfg.Load().MaxConnections {
			in.mu.Unlock()
			in.connsRefused.Add(1)
			conn.Close()
			continue
		}
		in.conns[conn] = struct{}{}
		in.connsOpen.Add(1)
		in.wg.Add(1)
		in.mu.Unlock()
		go in.readStream(conn)
	}
}

// readStream reads one TCP connection, appending what it read whenever
// the connection has nothing more buffered (or a batch is full).
func (in *Input) readStream(conn net.Conn) {
	defer in.wg.Done()
	defer func() {
		in.mu.Lock()
		delete(in.conns, conn)
		in.mu.Unlock()
		in.connsOpen.Add(-1)
		conn.Close()
	}()
	c := in.cfg.Load()
	if tc, ok := conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			in.log.Warn("syslog TLS handshake failed", "peer", conn.RemoteAddr().String(), "error", err)
			return
		}
		tc.SetDeadline(time.Time{})
	}
	p := newParser(c)
	b := entrybuild.New(in.name, in.maxAppend, in.filter)
	fr := newFramer(conn, int(c.MaxMessageBytes))
	peer := conn.RemoteAddr().String()
	defer in.flush(b)
	for {
		if b.Len() > 0 && fr.r.Buffered() == 0 {
			in.flush(b) // about to wait for the sender
		}
		if c.IdleTimeout > 0 && fr.r.Buffered() == 0 {
			conn.SetReadDeadline(time.Now().Add(c.IdleTimeout))
		}
		msg, cut, n, err := fr.next()
		if err != nil {
			return
		}
		if nc := in.cfg.Load(); nc != c {
			c, p = nc, newParser(nc)
			fr.max = int(c.MaxMessageBytes)
		}
		if b.Len() == 0 {
			b.Received(time.Now())
		}
		in.add(b, p, msg, cut, n, peer)
		if b.Full() {
			in.flush(b)
		}
	}
}

// Prepare opens the socket a new configuration needs when its address,
// TLS or mode changed (see input.Reconfigurer); other changes apply to the
// next message.
func (in *Input) Prepare(cfg component.Config) (apply, discard func(), err error) {
	c := cfg.(*Config)
	in.mu.Lock()
	same := in.ln != nil && in.ln.key == c.listenerKey()
	in.mu.Unlock()
	var ln *listener
	if !same {
		old := in.cfg.Load()
		if c.network == "unixgram" && old.network == "unixgram" && c.addr == old.addr {
			// The same path: the old socket must go first.
			ln = nil
		} else if ln, err = open(c, in.log); err != nil {
			return nil, nil, err
		}
	}
	apply = func() {
		in.cfg.Store(c)
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.shutdown {
			if ln != nil {
				ln.close()
			}
			return
		}
		switch {
		case ln != nil:
			in.serve(ln)
		case !same: // same Unix path, other mode
			os.Chmod(c.addr, os.FileMode(c.SocketMode))
			in.ln.key = c.listenerKey()
		}
	}
	discard = func() {
		if ln != nil {
			ln.close()
		}
	}
	return apply, discard, nil
}

// Status shows the socket and the counters.
func (in *Input) Status() input.Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := input.Status{Figures: in.ctr.Figures()}
	if in.ln != nil {
		st.Listeners = []string{in.ln.url}
	}
	st.Figures["messages_unparsed"] = in.unparsed.Load()
	st.Figures["connections_open"] = in.connsOpen.Load()
	if in.ln != nil && in.ln.inode != 0 {
		st.Figures["kernel_drops"] = max(0, kernelDrops(in.ln.inode))
	}
	return st
}

// Shutdown stops reading, appends what was read and waits for the readers
// until ctx ends.
func (in *Input) Shutdown(ctx context.Context) error {
	in.mu.Lock()
	in.shutdown = true
	if in.ln != nil {
		in.ln.close()
	}
	for c := range in.conns {
		c.Close() // its reader appends what it read and ends
	}
	in.mu.Unlock()
	done := make(chan struct{})
	go func() { in.wg.Wait(); close(done) }()
	select {
	case <-done:
		in.cancel()
		return nil
	case <-ctx.Done():
		in.cancel() // appends waiting for room give up
		<-done
		return fmt.Errorf("input %s: %w", in.name, ctx.Err())
	}
}
