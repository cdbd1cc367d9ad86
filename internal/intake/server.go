// Package intake accepts client connections on a Unix socket and TCP, reads NDJSON messages, answers them, and appends accepted entries to the queue.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/protocol"
)

// Sink is where accepted entries go: the intake side of the queue, as every
// input sees it.
type Sink = input.Sink

// Filter changes or drops the decoded entries of one message before their
// records are written (redaction). It returns the entries to keep, in
// order; entries it leaves out are accepted (the client sees no error)
// and never written.
type Filter = component.EntryFilter

// Options configure a Server.
type Options struct {
	MaxLineBytes   int           // longest message line (default 16 MiB)
	MaxBatch       int           // most entries in a batch (default 100)
	MaxConnections int           // connections at once (default 4096)
	WriteTimeout   time.Duration // a client that does not read its responses for this long is closed (default 10 s)
	IdleTimeout    time.Duration // a connection silent for this long is closed (0: never)
	AuthTimeout    time.Duration // TCP: time to authenticate (default 10 s)
	SharedSecret   string        // TCP: the secret clients must send first
	MaxPerPeer     int           // connections at once from one peer: TCP address, or Unix user id (0: no limit)
	RateLimit      float64       // entries per second per connection (0: no limit); over it, the agent reads more slowly
	AuthFailLimit  int           // TCP: failed authentications from one client (its user on loopback, else its address) before it is refused for AuthFailBlock (default 5)
	AuthFailBlock  time.Duration // TCP: how long such a client is refused, and how long failures are remembered (default 1 minute)
	// MaxPendingBytes bounds how many bytes of entries from consecutive
	// messages are gathered into one queue append (default 1 MiB). Keep it
	// well under the queue's byte cap, or a blocking queue could wait for
	// room that never comes.
	MaxPendingBytes int
	Input           string // the input's name, written into every record (see internal/record)
	Log             *slog.Logger
	Now             func() time.Time // clock for receivedAt (default time.Now)

	// MaxBufferedBytes bounds the bytes of unfinished lines longer than
	// 256 KiB buffered across all connections (default 256 MiB); see budget.go.
	MaxBufferedBytes int64
	// Limits that keep one client from starving the others (limits.go);
	// 0 means the default, a negative value turns a limit off.
	MaxPerProcess      int           // Unix connections at once from one process (default 64)
	MaxUnauthenticated int           // TCP connections waiting to authenticate at once (default 64)
	FirstLineTimeout   time.Duration // a Unix connection with no complete line this long is closed (default 1 minute)
	Filter             Filter        // nil: entries are written as decoded
}

// Transport names a listener kind, in logs and metrics.
type Transport string

const (
	Unix Transport = "unix"
	TCP  Transport = "tcp"
)

// Server serves the Agent API on any number of listeners.
type Server struct {
	opts atomic.Pointer[Options] // replaced whole on reload; connections keep the one they started with
	sink Sink
	log  *slog.Logger

	// stop ends blocking queue appends and flushes when the shutdown
	// deadline passes.
	stop      context.Context
	stopNow   context.CancelFunc
	closing   atomic.Bool
	mu        sync.Mutex
	lns       map[net.Listener]Transport
	conns     map[*conn]struct{}
	peers     map[string]int         // open connections per peer
	authFail  map[string]*authRecord // failed authentications per TCP client (see authPeer)
	authSwept time.Time              // when expired records were last cleared

	queueFullLogged atomic.Int64        // when queue_full was last logged, Unix nanoseconds
	storage         storageState        // appends failing for want of disk (storage.go)
	budget          lineBudget          // memory for long unfinished lines, shared by all connections (budget.go)
	refusals        refusalLog          // rate-limited log of refused clients (refusals.go)
	procs           map[string]int      // open Unix connections per client process (limits.go)
	unauth          map[*conn]time.Time // TCP connections waiting to authenticate, since when
	authFails       atomic.Int64        // len(authFail), read without the lock
	wg              sync.WaitGroup
	Counters        Counters
}

type authRecord struct {
	fails int
	until time.Time
}

// New returns a server that appends accepted entries to sink.
func New(opts Options, sink Sink) *Server {
	s := &Server{
		sink:     sink,
		lns:      map[net.Listener]Transport{},
		conns:    map[*conn]struct{}{},
		peers:    map[string]int{},
		authFail: map[string]*authRecord{},
		procs:    map[string]int{},
		unauth:   map[*conn]time.Time{},
	}
	s.Counters.budget = &s.budget
	s.SetOptions(opts)
	s.log = s.options().Log
	s.stop, s.stopNow = context.WithCancel(context.Background())
	return s
}

func (s *Server) options() *Options { return s.opts.Load() }

// SetOptions replaces the options: new connections use them, open ones keep
// theirs. This is how a reload applies new limits and secrets.
func (s *Server) SetOptions(opts Options) {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 16 << 20
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = protocol.DefaultMaxBatch
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 4096
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = 1 << 20
	}
	if opts.MaxBufferedBytes <= 0 {
		opts.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if opts.MaxPerProcess == 0 {
		opts.MaxPerProcess = DefaultMaxPerProcess
	}
	if opts.MaxUnauthenticated == 0 {
		opts.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if opts.FirstLineTimeout == 0 {
		opts.FirstLineTimeout = DefaultFirstLineTimeout
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuthFailLimit <= 0 {
		opts.AuthFailLimit = 5
	}
	if opts.AuthFailBlock <= 0 {
		opts.AuthFailBlock = time.Minute
	}
	s.opts.Store(&opts)
}

var umaskMu sync.Mutex

// ListenUnix listens on a Unix socket at path with the given mode and group
// (a name or a numeric id; "" keeps the process's group). A stale socket
// file is replaced; a live agent on the path, or a file that is not a
// socket, is an error.
func (s *Server) ListenUnix(path string, mode os.FileMode, group string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another agent is already listening on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
		s.log.Info("removed stale socket file", "path", path)
	}
	gid := -1
	if group != "" {
		id, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid = id
	}
	// Create the socket with the right mode from the start, so that it is
	// never reachable with looser permissions.
	umaskMu.Lock()
	old := syscall.Umask(int(^mode & 0o777))
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting group of %s: %w", path, err)
		}
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

func lookupGroup(group string) (int, error) {
	if id, err := strconv.Atoi(group); err == nil {
		return id, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group %q: %w", group, err)
	}
	return strconv.Atoi(g.Gid)
}

// ListenTCP listens on a TCP address.
func (s *Server) ListenTCP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve accepts connections on ln in the background until Shutdown.
// Connections on a TCP listener must authenticate first.
func (s *Server) Serve(ln net.Listener, t Transport) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return
	}
	s.lns[ln] = t
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accepting(ln, t)
}

func (s *Server) accepting(ln net.Listener, t Transport) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little and
			// try again rather than spin.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.log.Warn("accept failed", "transport", t, "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.admit(nc, t)
	}
}

func (s *Server) admit(nc net.Conn, t Transport) {
	o := s.options()
	peer := peerID(nc, t)
	proc := processID(nc, t)
	authID := ""
	if t == TCP && s.authFails.Load() > 0 {
		authID = authPeer(nc) // only while some client is being held back
	}
	s.mu.Lock()
	var refuse, reason string
	switch {
	case s.closing.Load():
		refuse = "the agent is shutting down"
	case len(s.conns) >= o.MaxConnections:
		refuse, reason = fmt.Sprintf("the agent is at its limit of %d connections", o.MaxConnections), "max_connections"
		s.Counters.Refused.Add(1)
	case o.MaxPerPeer > 0 && s.peers[peer] >= o.MaxPerPeer:
		refuse, reason = fmt.Sprintf("this client is at its limit of %d connections", o.MaxPerPeer), "max_connections_per_peer"
		s.Counters.RefusedPeer.Add(1)
	case authID != "" && s.blockedLocked(authID, o):
		refuse, reason = "too many failed authentications from this client; try again later", "auth_throttled"
		s.Counters.Throttled.Add(1)
	default:
		if refuse, reason = s.admitLimitsLocked(o, t, proc); refuse != "" {
			s.Counters.refused(reason)
		}
	}
	if refuse != "" {
		s.mu.Unlock()
		if reason != "" {
			who := peer
			if proc != "" {
				who += " " + proc
			}
			s.refusals.note(s.log, reason, who, "refused a connection: "+refuse)
		}
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(protocol.NewError(protocol.CodeUnavailable, refuse).AppendJSON(nil))
		nc.Close()
		return
	}
	c := newConn(s, o, nc, t)
	c.peer = peer
	s.conns[c] = struct{}{}
	s.trackLocked(c, proc)
	s.peers[peer]++
	s.wg.Add(1)
	s.mu.Unlock()
	s.Counters.opened(t)
	s.log.Debug("client connected", "transport", t, "peer", peer)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.untrackLocked(c, proc)
		if s.peers[peer]--; s.peers[peer] <= 0 {
			delete(s.peers, peer)
		}
		s.mu.Unlock()
		s.Counters.closed(t)
	}()
}

// peerID names the client for per-peer limits: its IP address on TCP, its
// user id on the Unix socket.
func peerID(nc net.Conn, t Transport) string {
	if t == TCP {
		if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
			return "tcp:" + host
		}
		return "tcp:" + nc.RemoteAddr().String()
	}
	if uc, ok := nc.(*net.UnixConn); ok {
		if uid, ok := peerUID(uc); ok {
			return "uid:" + strconv.Itoa(uid)
		}
	}
	return "unix"
}

// blockedLocked reports whether peer failed to authenticate too often lately.
// Failures are forgotten AuthFailBlock after the last one.
func (s *Server) blockedLocked(peer string, o *Options) bool {
	now := time.Now()
	if now.Sub(s.authSwept) > time.Second {
		s.authSwept = now
		for p, r := range s.authFail {
			if !now.Before(r.until) {
				delete(s.authFail, p)
			}
		}
		s.authFails.Store(int64(len(s.authFail)))
	}
	r := s.authFail[peer]
	if r == nil {
		return false
	}
	if !now.Before(r.until) {
		delete(s.authFail, peer) // the block has passed: a clean slate
		s.authFails.Store(int64(len(s.authFail)))
		return false
	}
	return bruteForce(r.fails, o)
}

// authFailed records a failed authentication from peer.
func (s *Server) authFailed(peer string, o *Options) {
	s.Counters.AuthFailures.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.authFail) > 100000 {
		clear(s.authFail) // bounded memory under a spray of addresses
		s.authFails.Store(0)
	}
	r := s.authFail[peer]
	if r == nil {
		r = &authRecord{}
		s.authFail[peer] = r
		s.authFails.Store(int64(len(s.authFail)))
	}
	r.fails++
	r.until = time.Now().Add(o.AuthFailBlock)
	switch {
	case r.fails == o.AuthFailLimit:
		s.log.Warn("repeated failed authentications from a client; the right secret is still accepted unless they go on at a brute-force rate", "peer", peer, "failures", r.fails)
	case bruteForce(r.fails, o) && r.fails == o.AuthFailLimit*bruteForceFactor:
		s.log.Warn("refusing a client: failed authentications at a brute-force rate", "peer", peer, "failures", r.fails, "for", o.AuthFailBlock)
	}
}

// logQueueFull says, at most every ten seconds, that entries are being
// refused because the queue is full, with how many so far.
func (s *Server) logQueueFull() {
	now := time.Now().UnixNano()
	last := s.queueFullLogged.Load()
	if now-last < int64(10*time.Second) || !s.queueFullLogged.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("queue full: refusing entries (queue.when_full: reject); an output is slow or down, or queue.max_bytes is too small",
		"entries_refused_so_far", s.Counters.QueueFull.Load())
}

// authSucceeded forgets peer's earlier failures.
func (s *Server) authSucceeded(peer string) {
	s.mu.Lock()
	delete(s.authFail, peer)
	s.authFails.Store(int64(len(s.authFail)))
	s.mu.Unlock()
}

// Shutdown stops accepting, lets every connection finish the messages it has
// already read, and waits for them until ctx ends; then it cuts them off.
// Unix socket files are removed. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.lns {
		ln.Close()
	}
	clear(s.lns)
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.stopNow()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Counters are the intake's running totals, safe to read at any time.
type Counters struct {
	UnixOpen, UnixTotal atomic.Int64
	TCPOpen, TCPTotal   atomic.Int64
	Refused             atomic.Int64 // connections refused over the total limit
	RefusedPeer         atomic.Int64 // connections refused over the per-peer limit
	Throttled           atomic.Int64 // connections refused after failed authentications
	QueueFull           atomic.Int64 // entries refused because the queue was full
	StorageRefused      atomic.Int64 // entries refused because the queue could not store them (disk full, I/O error)
	StorageFailures     atomic.Int64 // times the queue started to refuse appends for that reason
	StorageFailing      atomic.Bool  // the last append failed for that reason
	OverBudget          atomic.Int64 // connections closed because their unfinished line found no room in MaxBufferedBytes
	AuthFailures        atomic.Int64
	Messages            atomic.Int64 // lines read as messages
	BytesIn             atomic.Int64
	Accepted            atomic.Int64 // entries
	Rejected            atomic.Int64 // entries (or unreadable lines)
	byCode              sync.Map     // code → *atomic.Int64 of error responses

	refusedBy sync.Map    // reason → *atomic.Int64 of refused or cut-off connections (limits.go)
	budget    *lineBudget // the line buffer budget, for Buffered
}

func (c *Counters) opened(t Transport) {
	if t == TCP {
		c.TCPOpen.Add(1)
		c.TCPTotal.Add(1)
	} else {
		c.UnixOpen.Add(1)
		c.UnixTotal.Add(1)
	}
}

func (c *Counters) closed(t Transport) {
	if t == TCP {
		c.TCPOpen.Add(-1)
	} else {
		c.UnixOpen.Add(-1)
	}
}

func (c *Counters) errorCode(code string) { bump(&c.byCode, code) }

// Errors returns the number of error responses sent, by code.
func (c *Counters) Errors() map[string]int64 { return counts(&c.byCode) }

// bump adds one to the counter under key in m (key → *atomic.Int64).
func bump(m *sync.Map, key string) {
	v, ok := m.Load(key)
	if !ok {
		v, _ = m.LoadOrStore(key, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// counts returns the counters in m by key.
func counts(m *sync.Map) map[string]int64 {
	out := map[string]int64{}
	m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}
