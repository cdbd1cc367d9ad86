// Package agentapi is the Agent API input: the Unix socket and TCP listeners of the LogFlux wire protocol, served by internal/intake.
//
// The input owns the listeners (opening, socket activation, TLS, reload in
// place) and hands connection handling to an intake.Server, which reads,
// validates, normalises and appends to the sink the input was started with.
// The top-level unix, tcp and limits keys configure the agent's first input
// of this type, named agent_api; more can be listed under inputs.
package agentapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/tlsreload"
	"github.com/logflux/agent/internal/intake"
)

// Type is the input type's name in configurations.
const Type = "agent_api"

// Config is an Agent API input's configuration: the same keys as the
// top-level unix, tcp and limits sections.
type Config struct {
	config.Listeners `yaml:",inline"`

	// Inherited are listeners handed over by the service manager (socket
	// activation), used instead of opening the configured ones.
	Inherited []net.Listener `yaml:"-"`
}

// Finish fills in the TCP address and reads the secret file.
func (c *Config) Finish(env component.Env) { c.Listeners.Finish() }

// Validate reports every problem at once.
func (c *Config) Validate() error { return c.Listeners.Validate() }

// Factory makes Agent API inputs.
type Factory struct{}

var _ input.Factory = Factory{}

// Type is "agent_api".
func (Factory) Type() string { return Type }

// NewConfig returns the defaults of the unix, tcp and limits sections, with
// no listener: an input listed under inputs says where it listens.
func (Factory) NewConfig() component.Config {
	l := config.DefaultListeners()
	l.Unix.Path = ""
	return &Config{Listeners: l}
}

// New builds the input without opening anything.
func (Factory) New(cfg component.Config, set component.Settings) (input.Input, error) {
	c := *cfg.(*Config)
	in := &Input{name: set.Name, log: set.Log, cfg: c, maxAppend: set.MaxAppendBytes, filter: set.Filter}
	in.srv = intake.New(in.intakeOptions(&c), &in.sink)
	ctr := &in.srv.Counters
	m := set.Metrics
	m.Func("connections_open", "Client connections open now.", component.Gauge, func() int64 { return ctr.UnixOpen.Load() + ctr.TCPOpen.Load() })
	m.Func("connections", "Client connections accepted.", component.Counter, func() int64 { return ctr.UnixTotal.Load() + ctr.TCPTotal.Load() })
	m.Func("entries_accepted", "Entries accepted into the queue.", component.Counter, ctr.Accepted.Load)
	m.Func("entries_rejected", "Entries refused.", component.Counter, ctr.Rejected.Load)
	m.Func("received_bytes", "Bytes read from clients.", component.Counter, ctr.BytesIn.Load)
	return in, nil
}

// Input is one Agent API input.
type Input struct {
	name string
	log  *slog.Logger
	srv  *intake.Server
	sink startedSink

	maxAppend int // bytes gathered into one append
	filter    component.EntryFilter

	mu     sync.Mutex // guards cfg and the listeners
	cfg    Config
	unixLn net.Listener
	tcpLn  net.Listener
	tls    *tlsreload.Source
}

var (
	_ input.Input          = (*Input)(nil)
	_ input.Reconfigurer   = (*Input)(nil)
	_ input.StatusReporter = (*Input)(nil)
)

// startedSink is the sink given to Start; the intake server is made (and
// its counters published) before it.
type startedSink struct{ input.Sink }

// Name returns the input's name.
func (in *Input) Name() string { return in.name }

// Counters are the connection and entry counters of the input.
func (in *Input) Counters() *intake.Counters { return &in.srv.Counters }

// StorageProblem says why the queue has been refusing this input's
// entries (a full disk), or "" while it takes them.
func (in *Input) StorageProblem() string { return in.srv.StorageProblem() }

func (in *Input) intakeOptions(c *Config) intake.Options {
	return intake.Options{
		MaxLineBytes:    int(c.Limits.MaxLineBytes),
		MaxBatch:        c.Limits.MaxBatchEntries,
		MaxConnections:  c.Limits.MaxConnections,
		MaxPerPeer:      c.Limits.MaxPerPeer,
		WriteTimeout:    c.Limits.WriteTimeout,
		IdleTimeout:     c.Limits.IdleTimeout,
		AuthTimeout:     c.TCP.AuthTimeout,
		SharedSecret:    c.TCP.SharedSecret,
		RateLimit:       c.Limits.RateLimit,
		AuthFailLimit:   c.Limits.AuthFailures,
		AuthFailBlock:   c.Limits.AuthBlock,
		MaxPendingBytes: in.maxAppend,
		Filter:          in.filter,

		MaxBufferedBytes:   int64(c.Limits.MaxBufferedBytes),
		MaxPerProcess:      offIfZero(c.Limits.MaxPerProcess),
		MaxUnauthenticated: c.TCP.MaxUnauthenticated,
		FirstLineTimeout:   offIfZero(c.Limits.FirstLineTimeout),
		Input:              in.name,
		Log:                in.log,
	}
}

// Start opens the listeners and serves them, appending to sink.
func (in *Input) Start(_ context.Context, sink input.Sink) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.sink.Sink = sink
	unixLn, tcpLn, tlsSrc, err := in.open(&in.cfg, nil)
	if err != nil {
		return err
	}
	in.serve(unixLn, tcpLn, tlsSrc)
	return nil
}

// open opens the listeners c asks for that differ from old's (old nil: all
// of them). A nil listener means "keep the current one".
func (in *Input) open(c, old *Config) (unixLn, tcpLn net.Listener, tlsSrc *tlsreload.Source, err error) {
	if inherited := c.Inherited; len(inherited) > 0 {
		if old != nil {
			return nil, nil, nil, nil // the service manager owns the sockets
		}
		for _, ln := range inherited {
			switch ln.Addr().Network() {
			case "unix":
				unixLn = ln
			case "tcp":
				tcpLn = ln
			}
		}
		if tcpLn != nil && len(c.TCP.SharedSecret) < config.MinSecretLen {
			return nil, nil, nil, errors.New("the service manager passed a TCP socket, but tcp.shared_secret (at least 32 characters) is not configured")
		}
		if tcpLn != nil && c.TCP.TLS.Enabled() {
			if tlsSrc, err = tlsreload.NewSource(c.TCP.TLS, in.log); err != nil {
				return nil, nil, nil, err
			}
			tcpLn = tlsSrc.Wrap(tcpLn)
		}
		return unixLn, tcpLn, tlsSrc, nil
	}
	defer func() {
		if err != nil {
			closeAll(unixLn, tcpLn)
			unixLn, tcpLn, tlsSrc = nil, nil, nil
		}
	}()
	if c.UnixEnabled() && (old == nil || !old.UnixEnabled() || old.Unix.Path != c.Unix.Path) {
		if unixLn, err = in.srv.ListenUnix(c.Unix.Path, os.FileMode(c.Unix.Mode), c.Unix.Group); err != nil {
			return
		}
	}
	if c.TCPEnabled() && (old == nil || !old.TCPEnabled() || old.TCP.Address != c.TCP.Address || old.TCP.TLS.Enabled() != c.TCP.TLS.Enabled()) {
		if tcpLn, err = in.srv.ListenTCP(c.TCP.Address); err != nil {
			return
		}
		if c.TCP.TLS.Enabled() {
			if tlsSrc, err = tlsreload.NewSource(c.TCP.TLS, in.log); err != nil {
				return
			}
			tcpLn = tlsSrc.Wrap(tcpLn)
		}
	}
	return unixLn, tcpLn, tlsSrc, nil
}

func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// serve starts serving new listeners and closes the ones they replace.
// Called with in.mu held.
func (in *Input) serve(unixLn, tcpLn net.Listener, tlsSrc *tlsreload.Source) {
	if tlsSrc != nil {
		in.tls = tlsSrc
	}
	if unixLn != nil {
		closeAll(in.unixLn)
		in.unixLn = unixLn
		in.srv.Serve(unixLn, intake.Unix)
		in.log.Info("listening", "transport", "unix", "path", unixLn.Addr().String(), "mode", in.cfg.Unix.Mode.String())
	}
	if tcpLn != nil {
		closeAll(in.tcpLn)
		in.tcpLn = tcpLn
		in.srv.Serve(tcpLn, intake.TCP)
		if in.cfg.TCPNonLoopback() {
			in.log.Warn("TCP listener is reachable from other machines; the shared secret is its only protection", "address", tcpLn.Addr().String())
		}
		in.log.Info("listening", "transport", "tcp", "address", tcpLn.Addr().String(), "tls", in.cfg.TCP.TLS.Enabled())
	}
}

// Prepare opens the listeners a new configuration needs (see
// input.Reconfigurer). Listeners whose settings did not change keep their
// connections.
func (in *Input) Prepare(cfg component.Config) (apply, discard func(), err error) {
	c := *cfg.(*Config)
	in.mu.Lock()
	defer in.mu.Unlock()
	old := in.cfg
	c.Inherited = old.Inherited
	if len(c.Inherited) > 0 && (old.Unix.Path != c.Unix.Path || old.TCP.Address != c.TCP.Address) {
		return nil, nil, errors.New("the listeners are owned by the service manager; their addresses only change with a restart")
	}
	unixLn, tcpLn, tlsSrc, err := in.open(&c, &old)
	if err != nil {
		return nil, nil, err
	}
	apply = func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		owned := len(c.Inherited) == 0
		if owned && c.UnixEnabled() && unixLn == nil && in.unixLn != nil {
			os.Chmod(c.Unix.Path, os.FileMode(c.Unix.Mode)) // same path: mode in place
		}
		if owned && !c.UnixEnabled() && in.unixLn != nil {
			in.unixLn.Close()
			in.unixLn = nil
		}
		if owned && !c.TCPEnabled() && in.tcpLn != nil {
			in.tcpLn.Close()
			in.tcpLn = nil
		}
		in.cfg = c
		in.serve(unixLn, tcpLn, tlsSrc)
		if in.tls != nil && tlsSrc == nil && c.TCP.TLS.Enabled() {
			in.tls.Update(c.TCP.TLS)
		}
		in.srv.SetOptions(in.intakeOptions(&c))
	}
	discard = func() { closeAll(unixLn, tcpLn) }
	return apply, discard, nil
}

// Status lists the listeners as URLs.
func (in *Input) Status() input.Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	var st input.Status
	if in.unixLn != nil {
		st.Listeners = append(st.Listeners, "unix://"+in.unixLn.Addr().String())
	}
	if in.tcpLn != nil {
		st.Listeners = append(st.Listeners, "tcp://"+in.tcpLn.Addr().String())
	}
	return st
}

// TCPAddr returns the TCP listener's address, or nil.
func (in *Input) TCPAddr() net.Addr {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tcpLn == nil {
		return nil
	}
	return in.tcpLn.Addr()
}

// Shutdown stops accepting, lets connections answer what they read, and
// returns when they have ended or ctx ends.
func (in *Input) Shutdown(ctx context.Context) error {
	if err := in.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("input %s: %w", in.name, err)
	}
	return nil
}

// offIfZero maps a configured 0 ("off") to the intake's -1 (its 0 means
// "the default").
func offIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
