// Package agent assembles the pipeline — intake, queue, outputs — from a configuration and runs it from Start to Shutdown, reloading it in place.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/deadletter"
	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/forward"
	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/metrics"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/output/stdout"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/tap"
)

// APIInput names the Agent API input (the Unix socket and TCP listeners) in
// the tap.
const APIInput = "api"

// State is where the agent is in its life, for readiness.
type State int32

const (
	Starting State = iota
	Running
	Stopping
)

// Options are what the agent needs besides its configuration.
type Options struct {
	Log      *slog.Logger
	LogLevel *slog.LevelVar // set on reload when log.level changes (may be nil)
	// Listeners handed over by the service manager (socket activation),
	// used instead of opening the configured ones.
	Inherited []net.Listener
	// Retry overrides the outputs' retry delays (zero: the dispatcher's
	// defaults); tests use it to make outages short.
	Retry backoff.Backoff
}

// Agent is one running pipeline.
type Agent struct {
	log  *slog.Logger
	opts Options

	mu      sync.Mutex // guards cfg, outputs and listeners during reload and shutdown
	cfg     *config.Config
	outputs []*runningOutput
	unixLn  net.Listener
	tcpLn   net.Listener
	tls     *tlsSource

	Queue      queue.Queue
	DeadLetter *deadletter.Store
	Intake     *intake.Server
	Reloads    metrics.Reloads
	Tap        tap.Hub // accepted entries, for GET /tap

	state    atomic.Int32
	started  time.Time
	locks    []*os.File
	wg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// runningOutput is one output and the dispatcher feeding it.
type runningOutput struct {
	cfg    config.OutputConfig
	out    output.Output
	disp   *output.Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

// New builds the pipeline described by cfg (already validated) without
// starting it: it opens the queue and the dead-letter store and builds the
// outputs.
func New(cfg *config.Config, opts Options) (a *Agent, err error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	a = &Agent{cfg: cfg, log: opts.Log, opts: opts}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	if cfg.Queue.Type == "disk" {
		if err := a.lock(cfg.Queue.Dir); err != nil {
			return nil, err
		}
	}
	if err := a.lock(cfg.DeadLetter.Dir); err != nil {
		return nil, err
	}
	if a.Queue, err = openQueue(cfg, a.log); err != nil {
		return nil, err
	}
	a.DeadLetter, err = deadletter.Open(deadletter.Options{Dir: cfg.DeadLetter.Dir, MaxBytes: int64(cfg.DeadLetter.MaxBytes), Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("dead-letter store: %w", err)
	}
	for _, oc := range cfg.Outputs {
		o, err := BuildOutput(oc, a.log)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", oc.Name, err)
		}
		a.outputs = append(a.outputs, &runningOutput{cfg: oc, out: o})
	}
	a.Intake = intake.New(intakeOptions(cfg, a.log), a.Tap.Sink(a.Queue, APIInput))
	return a, nil
}

// lock takes an exclusive lock on dir, so that two agents never share a
// queue or a dead-letter store.
func (a *Agent) lock(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s is in use by another agent (or a dlq command): %w", dir, err)
	}
	a.locks = append(a.locks, f)
	return nil
}

// LockDir takes the same lock as a running agent on dir; the caller closes
// the file to release it.
func LockDir(dir string) (*os.File, error) {
	var a Agent
	if err := a.lock(dir); err != nil {
		return nil, err
	}
	return a.locks[0], nil
}

func (a *Agent) release() {
	if a.DeadLetter != nil {
		a.DeadLetter.Close()
	}
	if a.Queue != nil {
		a.Queue.Close()
	}
	for _, ro := range a.outputs {
		ro.out.Close(context.Background())
	}
	for _, f := range a.locks {
		f.Close()
	}
	a.locks = nil
}

func intakeOptions(cfg *config.Config, log *slog.Logger) intake.Options {
	return intake.Options{
		MaxLineBytes:   int(cfg.Limits.MaxLineBytes),
		MaxBatch:       cfg.Limits.MaxBatchEntries,
		MaxConnections: cfg.Limits.MaxConnections,
		MaxPerPeer:     cfg.Limits.MaxPerPeer,
		WriteTimeout:   cfg.Limits.WriteTimeout,
		IdleTimeout:    cfg.Limits.IdleTimeout,
		AuthTimeout:    cfg.TCP.AuthTimeout,
		SharedSecret:   cfg.TCP.SharedSecret,
		RateLimit:      cfg.Limits.RateLimit,
		AuthFailLimit:  cfg.Limits.AuthFailures,
		AuthFailBlock:  cfg.Limits.AuthBlock,
		// Gather at most a quarter of the queue into one append.
		MaxPendingBytes: int(min(1<<20, int64(cfg.Queue.MaxBytes)/4)),
		Log:             log,
	}
}

func openQueue(cfg *config.Config, log *slog.Logger) (queue.Queue, error) {
	policy := queue.Policy(cfg.Queue.WhenFull)
	switch cfg.Queue.Type {
	case "memory":
		return queue.NewMemory(int64(cfg.Queue.MaxBytes), policy), nil
	case "disk":
		// Positions are persisted every 20 ms: after a crash, at most that much
		// delivered work is delivered again.
		q, err := diskqueue.Open(diskqueue.Options{Dir: cfg.Queue.Dir, MaxBytes: int64(cfg.Queue.MaxBytes), Policy: policy, Logger: log, CommitInterval: 20 * time.Millisecond})
		if err != nil {
			return nil, fmt.Errorf("disk queue: %w", err)
		}
		return q, nil
	default:
		return nil, fmt.Errorf("queue type %q is not available", cfg.Queue.Type)
	}
}

// BuildOutput makes the output an output configuration describes.
func BuildOutput(oc config.OutputConfig, log *slog.Logger) (output.Output, error) {
	switch oc.Type {
	case "file":
		return file.New(file.Options{Name: oc.Name, Path: oc.Path, MaxSize: int64(oc.MaxSize), MaxFiles: oc.MaxFiles})
	case "stdout":
		return stdout.New(oc.Name, nil), nil
	case "logflux":
		fc := oc.Forward()
		fc.Logger = log
		return forward.New(fc)
	default:
		if b := extraOutputs[oc.Type]; b != nil {
			return b(oc, log)
		}
		return nil, fmt.Errorf("output type %q is not available in this build", oc.Type)
	}
}

// extraOutputs are output types that live in their own packages.
var extraOutputs = map[string]func(config.OutputConfig, *slog.Logger) (output.Output, error){}

// Start opens the listeners and starts moving entries to the outputs.
func (a *Agent) Start(ctx context.Context) error {
	a.started = time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ro := range a.outputs {
		if err := a.startOutput(ro); err != nil {
			return err
		}
	}
	unixLn, tcpLn, err := a.openListeners(a.cfg, nil)
	if err != nil {
		return err
	}
	a.serve(unixLn, tcpLn)
	a.Reloads.LastSuccess.Store(time.Now().Unix())
	a.state.Store(int32(Running))
	return nil
}

func (a *Agent) startOutput(ro *runningOutput) error {
	r, err := a.Queue.Reader(ro.out.Name())
	if err != nil {
		return fmt.Errorf("queue reader for %s: %w", ro.out.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ro.cancel, ro.done = cancel, make(chan struct{})
	ro.disp = &output.Dispatcher{Out: ro.out, Reader: r, Log: a.log, DeadLetter: a.DeadLetter, Backoff: a.opts.Retry}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(ro.done)
		if err := ro.disp.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("output stopped", "output", ro.out.Name(), "error", err)
		}
	}()
	return nil
}

// openListeners opens the listeners cfg asks for that differ from old's
// (old nil: all of them). A nil result means "keep the current one".
func (a *Agent) openListeners(cfg, old *config.Config) (unixLn, tcpLn net.Listener, err error) {
	inherited := a.opts.Inherited
	if len(inherited) > 0 {
		if old != nil {
			return nil, nil, nil // the service manager owns the sockets
		}
		for _, ln := range inherited {
			switch ln.Addr().Network() {
			case "unix":
				unixLn = ln
			case "tcp":
				tcpLn = ln
			}
		}
		if tcpLn != nil && len(cfg.TCP.SharedSecret) < config.MinSecretLen {
			return nil, nil, errors.New("the service manager passed a TCP socket, but tcp.shared_secret (at least 32 characters) is not configured")
		}
		if tcpLn != nil && cfg.TCP.TLS.Enabled() {
			a.tls, err = newTLSSource(cfg.TCP.TLS, a.log)
			if err != nil {
				return nil, nil, err
			}
			tcpLn = a.tls.wrap(tcpLn)
		}
		return unixLn, tcpLn, nil
	}
	defer func() {
		if err != nil {
			if unixLn != nil {
				unixLn.Close()
			}
			if tcpLn != nil {
				tcpLn.Close()
			}
			unixLn, tcpLn = nil, nil
		}
	}()
	if cfg.UnixEnabled() && (old == nil || !old.UnixEnabled() || old.Unix.Path != cfg.Unix.Path) {
		unixLn, err = a.Intake.ListenUnix(cfg.Unix.Path, os.FileMode(cfg.Unix.Mode), cfg.Unix.Group)
		if err != nil {
			return
		}
	}
	if cfg.TCPEnabled() && (old == nil || !old.TCPEnabled() || old.TCP.Address != cfg.TCP.Address || old.TCP.TLS.Enabled() != cfg.TCP.TLS.Enabled()) {
		tcpLn, err = a.Intake.ListenTCP(cfg.TCP.Address)
		if err != nil {
			return
		}
		if cfg.TCP.TLS.Enabled() {
			src, e := newTLSSource(cfg.TCP.TLS, a.log)
			if e != nil {
				err = e
				return
			}
			a.tls = src
			tcpLn = src.wrap(tcpLn)
		}
	}
	return unixLn, tcpLn, nil
}

// serve starts serving new listeners and closes the ones they replace.
func (a *Agent) serve(unixLn, tcpLn net.Listener) {
	if unixLn != nil {
		if a.unixLn != nil {
			a.unixLn.Close()
		}
		a.unixLn = unixLn
		a.Intake.Serve(unixLn, intake.Unix)
		a.log.Info("listening", "transport", "unix", "path", unixLn.Addr().String(), "mode", a.cfg.Unix.Mode.String())
	}
	if tcpLn != nil {
		if a.tcpLn != nil {
			a.tcpLn.Close()
		}
		a.tcpLn = tcpLn
		a.Intake.Serve(tcpLn, intake.TCP)
		if a.cfg.TCPNonLoopback() {
			a.log.Warn("TCP listener is reachable from other machines; the shared secret is its only protection", "address", tcpLn.Addr().String())
		}
		a.log.Info("listening", "transport", "tcp", "address", tcpLn.Addr().String(), "tls", a.cfg.TCP.TLS.Enabled())
	}
}

// TCPAddr returns the TCP listener's address, or nil.
func (a *Agent) TCPAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tcpLn == nil {
		return nil
	}
	return a.tcpLn.Addr()
}

// Config returns the configuration in force.
func (a *Agent) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Reload applies a new, validated configuration whole, or nothing of it.
// Listeners whose settings did not change keep their connections; outputs
// whose settings did not change keep running.
func (a *Agent) Reload(cfg *config.Config) (err error) {
	defer func() {
		if err != nil {
			a.Reloads.Failure.Add(1)
			a.log.Error("configuration reload failed; nothing changed", "error", err)
		} else {
			a.Reloads.Success.Add(1)
			a.Reloads.LastSuccess.Store(time.Now().Unix())
		}
	}()
	if State(a.state.Load()) != Running {
		return errors.New("the agent is not running")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg
	var fixed []string
	if !reflect.DeepEqual(old.Queue, cfg.Queue) {
		fixed = append(fixed, "queue")
	}
	if !reflect.DeepEqual(old.DeadLetter, cfg.DeadLetter) {
		fixed = append(fixed, "dead_letter")
	}
	if old.Admin.Address != cfg.Admin.Address {
		fixed = append(fixed, "admin.address")
	}
	if old.Log.Format != cfg.Log.Format {
		fixed = append(fixed, "log.format")
	}
	if len(a.opts.Inherited) > 0 && (old.Unix.Path != cfg.Unix.Path || old.TCP.Address != cfg.TCP.Address) {
		fixed = append(fixed, "listeners (owned by the service manager)")
	}
	if len(fixed) > 0 {
		return fmt.Errorf("these settings only change with a restart: %v", fixed)
	}
	// Prepare everything that can fail before changing anything.
	unixLn, tcpLn, err := a.openListeners(cfg, old)
	if err != nil {
		return err
	}
	oldByName := map[string]*runningOutput{}
	for _, ro := range a.outputs {
		oldByName[ro.cfg.Name] = ro
	}
	var next, fresh []*runningOutput
	for _, oc := range cfg.Outputs {
		if ro := oldByName[oc.Name]; ro != nil && reflect.DeepEqual(ro.cfg, oc) {
			next = append(next, ro)
			continue
		}
		o, err := BuildOutput(oc, a.log)
		if err != nil {
			for _, f := range fresh {
				f.out.Close(context.Background())
			}
			for _, ln := range []net.Listener{unixLn, tcpLn} {
				if ln != nil {
					ln.Close()
				}
			}
			return fmt.Errorf("output %s: %w", oc.Name, err)
		}
		ro := &runningOutput{cfg: oc, out: o}
		next = append(next, ro)
		fresh = append(fresh, ro)
	}
	// Apply.
	if cfg.UnixEnabled() && unixLn == nil && a.unixLn != nil && len(a.opts.Inherited) == 0 {
		// Same path: apply mode and group in place.
		os.Chmod(cfg.Unix.Path, os.FileMode(cfg.Unix.Mode))
	}
	if !cfg.UnixEnabled() && a.unixLn != nil && len(a.opts.Inherited) == 0 {
		a.unixLn.Close()
		a.unixLn = nil
	}
	if !cfg.TCPEnabled() && a.tcpLn != nil && len(a.opts.Inherited) == 0 {
		a.tcpLn.Close()
		a.tcpLn = nil
	}
	a.cfg = cfg
	a.serve(unixLn, tcpLn)
	if a.tls != nil && cfg.TCP.TLS.Enabled() {
		a.tls.update(cfg.TCP.TLS)
	}
	a.Intake.SetOptions(intakeOptions(cfg, a.log))
	if a.opts.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(cfg.Log.Level)) == nil {
			a.opts.LogLevel.Set(lvl)
		}
	}
	keep := map[*runningOutput]bool{}
	for _, ro := range next {
		keep[ro] = true
	}
	newNames := map[string]bool{}
	for _, oc := range cfg.Outputs {
		newNames[oc.Name] = true
	}
	for _, ro := range a.outputs {
		if keep[ro] {
			continue
		}
		ro.cancel()
		<-ro.done
		ro.out.Close(context.Background())
		if !newNames[ro.cfg.Name] {
			// Removed for good: its backlog must not hold the queue.
			if dq, ok := a.Queue.(*diskqueue.Queue); ok {
				dq.DropReader(ro.cfg.Name)
			}
			a.log.Info("output removed", "output", ro.cfg.Name)
		}
	}
	for _, ro := range fresh {
		if err := a.startOutput(ro); err != nil {
			a.log.Error("output could not start", "output", ro.cfg.Name, "error", err)
		}
		a.log.Info("output started", "output", ro.cfg.Name, "type", ro.cfg.Type)
	}
	a.outputs = next
	a.log.Info("configuration reloaded")
	return nil
}

// Shutdown stops intake, lets connections finish what they read, drains the
// queue into the outputs until ctx ends, and closes everything. Entries not
// delivered by then stay in a durable queue for the next start.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutOnce.Do(func() {
		a.state.Store(int32(Stopping))
		var errs []error
		if err := a.Intake.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("intake: %w", err))
		}
		// Everything accepted is in the queue: make it durable first.
		if err := a.Queue.Sync(ctx); err != nil {
			errs = append(errs, fmt.Errorf("queue sync: %w", err))
		}
		a.Queue.CloseWrite()
		done := make(chan struct{})
		go func() { a.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			st := a.Queue.Stats()
			if a.Config().Queue.Type == "memory" {
				errs = append(errs, fmt.Errorf("shutdown deadline reached with %d entries undelivered in the memory queue: they are lost", st.Records))
			} else {
				a.log.Warn("shutdown deadline reached before the outputs drained; the rest stays on disk for the next start", "entries_left", st.Records)
			}
		}
		a.mu.Lock()
		for _, ro := range a.outputs {
			if ro.cancel != nil {
				ro.cancel()
			}
		}
		a.mu.Unlock()
		<-done
		a.mu.Lock()
		for _, ro := range a.outputs {
			if err := ro.out.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("closing %s: %w", ro.out.Name(), err))
			}
		}
		a.outputs = nil
		a.mu.Unlock()
		if err := a.Queue.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the queue: %w", err))
		}
		if err := a.DeadLetter.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the dead-letter store: %w", err))
		}
		for _, f := range a.locks {
			f.Close()
		}
		a.shutErr = errors.Join(errs...)
	})
	return a.shutErr
}
