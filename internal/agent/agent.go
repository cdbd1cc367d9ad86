// Package agent assembles the pipeline — inputs, queue, outputs — from a configuration and runs it from Start to Shutdown, reloading it in place.
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
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/deadletter"
	"github.com/logflux/agent/internal/diskqueue"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/agentapi"
	"github.com/logflux/agent/internal/metrics"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/redact"
	"github.com/logflux/agent/internal/tap"
)

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
	// used by the agent_api input instead of opening the configured ones.
	Inherited []net.Listener
	// Retry overrides the outputs' retry delays (zero: the dispatcher's
	// defaults); tests use it to make outages short.
	Retry backoff.Backoff
}

// Agent is one running pipeline.
type Agent struct {
	log  *slog.Logger
	opts Options

	mu      sync.Mutex // guards cfg, inputs and outputs during reload and shutdown
	cfg     *config.Config
	inputs  []*runningInput
	outputs []*runningOutput

	Queue      queue.Queue
	DeadLetter *deadletter.Store
	Reloads    metrics.Reloads
	Redact     *redact.Live // the redaction rules in force, swapped whole on reload
	Tap        tap.Hub      // accepted entries, for GET /tap

	state    atomic.Int32
	started  time.Time
	locks    []*os.File
	wg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// runningOutput is one output and the dispatcher feeding it.
type runningOutput struct {
	cfg     config.OutputConfig
	out     output.Output
	metrics *component.Metrics
	disp    *output.Dispatcher
	cancel  context.CancelFunc
	done    chan struct{}
}

// runningInput is one input.
type runningInput struct {
	cfg     config.InputConfig
	in      input.Input
	metrics *component.Metrics
}

// New builds the pipeline described by cfg (already validated) without
// starting it: it opens the queue and the dead-letter store and builds the
// inputs and outputs.
//
// The result is named _ on purpose: "return nil, err" must not clear the
// agent that the deferred release still needs.
func New(cfg *config.Config, opts Options) (_ *Agent, err error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	a := &Agent{cfg: cfg, log: opts.Log, opts: opts}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	if cfg.Queue.Type == "disk" {
		if err := a.lock(cfg.Queue.Dir); err != nil {
			return nil, describeLockError(cfg, cfg.Queue.Dir, err)
		}
	}
	if err := a.lock(cfg.DeadLetter.Dir); err != nil {
		return nil, describeLockError(cfg, cfg.DeadLetter.Dir, err)
	}
	if a.Queue, err = openQueue(cfg, a.log); err != nil {
		return nil, err
	}
	a.DeadLetter, err = deadletter.Open(deadletter.Options{Dir: cfg.DeadLetter.Dir, MaxBytes: int64(cfg.DeadLetter.MaxBytes), Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("dead-letter store: %w", err)
	}
	a.Redact = redact.NewLive()
	r, err := a.Redact.Compile(cfg.Redact)
	if err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	a.Redact.Set(r)
	for _, oc := range cfg.Outputs {
		ro, err := a.buildOutput(cfg, oc)
		if err != nil {
			return nil, describeOutputError(oc, err)
		}
		a.outputs = append(a.outputs, ro)
	}
	for _, ic := range a.inputConfigs(cfg) {
		ri, err := a.buildInput(cfg, ic)
		if err != nil {
			return nil, err
		}
		a.inputs = append(a.inputs, ri)
	}
	return a, nil
}

// inputConfigs lists cfg's inputs: first the Agent API input the top-level
// unix, tcp and limits keys configure, then the inputs list.
func (a *Agent) inputConfigs(cfg *config.Config) []config.InputConfig {
	first := config.InputConfig{Type: agentapi.Type, Name: config.AgentAPIInput,
		Settings: &agentapi.Config{Listeners: cfg.Listeners, Inherited: a.opts.Inherited}}
	return append([]config.InputConfig{first}, cfg.Inputs...)
}

// settings are the common settings of a component called name.
func (a *Agent) settings(cfg *config.Config, kind, name string) component.Settings {
	return component.Settings{
		Name:    name,
		Log:     a.log.With(kind, name),
		DataDir: cfg.DataDir,
		Metrics: new(component.Metrics),
		Filter:  a.Redact,
		// Gather at most a quarter of the queue into one append.
		MaxAppendBytes: int(min(1<<20, int64(cfg.Queue.MaxBytes)/4)),
	}
}

// factory is what input.Factory and output.Factory have in common.
type factory[T any] interface {
	New(cfg component.Config, set component.Settings) (T, error)
}

// build makes a component of the kind ("input", "output") with its
// type's factory f (nil: the type is not in this build).
func build[T any](a *Agent, cfg *config.Config, kind, typ, name string, f factory[T], settings component.Config) (T, *component.Metrics, error) {
	var zero T
	if f == nil {
		return zero, nil, fmt.Errorf("%s %s: %s type %q is not available in this build", kind, name, kind, typ)
	}
	set := a.settings(cfg, kind, name)
	c, err := f.New(settings, set)
	if err != nil {
		return zero, nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return c, set.Metrics, nil
}

// buildOutput makes the output oc describes.
func (a *Agent) buildOutput(cfg *config.Config, oc config.OutputConfig) (*runningOutput, error) {
	var f factory[output.Output]
	if of := cfg.Registry.Output(oc.Type); of != nil {
		f = of
	}
	o, m, err := build(a, cfg, "output", oc.Type, oc.Name, f, oc.Settings)
	if err != nil {
		return nil, err
	}
	return &runningOutput{cfg: oc, out: o, metrics: m}, nil
}

// buildInput makes the input ic describes.
func (a *Agent) buildInput(cfg *config.Config, ic config.InputConfig) (*runningInput, error) {
	var f factory[input.Input]
	if inf := cfg.Registry.Input(ic.Type); inf != nil {
		f = inf
	}
	in, m, err := build(a, cfg, "input", ic.Type, ic.Name, f, ic.Settings)
	if err != nil {
		return nil, err
	}
	return &runningInput{cfg: ic, in: in, metrics: m}, nil
}

// BuildOutputs makes the outputs of cfg without starting anything (for
// dlq replay); the caller closes them.
func BuildOutputs(cfg *config.Config, log *slog.Logger) (map[string]output.Output, error) {
	a := &Agent{log: log}
	if a.log == nil {
		a.log = slog.Default()
	}
	outs := map[string]output.Output{}
	for _, oc := range cfg.Outputs {
		ro, err := a.buildOutput(cfg, oc)
		if err != nil {
			for _, o := range outs {
				o.Close(context.Background())
			}
			return nil, err
		}
		outs[oc.Name] = ro.out
	}
	return outs, nil
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
		holder := lockHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return &InUseError{Dir: dir, PID: holder}
		}
		return fmt.Errorf("locking %s: %w", dir, err)
	}
	recordHolder(f)
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

// Start starts the outputs, then the inputs.
func (a *Agent) Start(ctx context.Context) error {
	a.started = time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ro := range a.outputs {
		if err := a.startOutput(ro); err != nil {
			return err
		}
	}
	for i, ri := range a.inputs {
		if err := ri.in.Start(ctx, a.Tap.Sink(a.Queue, ri.cfg.Name)); err != nil {
			for _, started := range a.inputs[:i] {
				started.in.Shutdown(ctx)
			}
			return fmt.Errorf("input %s: %w", ri.cfg.Name, err)
		}
	}
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
	ro.disp = &output.Dispatcher{Out: ro.out, Reader: r, Log: a.log, DeadLetter: a.DeadLetter, Backoff: a.opts.Retry, Match: ro.cfg.Match.Compile()}
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

// apiInput returns the agent_api input the top-level keys configure.
func (a *Agent) apiInput() *agentapi.Input {
	for _, ri := range a.inputs {
		if ri.cfg.Name == config.AgentAPIInput {
			if in, ok := ri.in.(*agentapi.Input); ok {
				return in
			}
		}
	}
	return nil
}

// TCPAddr returns the agent_api input's TCP listener's address, or nil.
func (a *Agent) TCPAddr() net.Addr {
	a.mu.Lock()
	in := a.apiInput()
	a.mu.Unlock()
	if in == nil {
		return nil
	}
	return in.TCPAddr()
}

// Config returns the configuration in force.
func (a *Agent) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Reload applies a new, validated configuration whole, or nothing of it.
// Inputs and outputs whose settings did not change keep running; an input
// that can (the Agent API input) takes new settings in place, keeping the
// connections of listeners that did not change.
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
	if len(fixed) > 0 {
		return fmt.Errorf("these settings only change with a restart: %v", fixed)
	}

	// Prepare everything that can fail before changing anything.
	redactor, err := a.Redact.Compile(cfg.Redact)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	plan, err := a.planInputs(cfg)
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
		ro, err := a.buildOutput(cfg, oc)
		if err != nil {
			for _, f := range fresh {
				f.out.Close(context.Background())
			}
			plan.discard()
			return err
		}
		next = append(next, ro)
		fresh = append(fresh, ro)
	}

	// Apply: nothing below fails the reload.
	a.cfg = cfg
	plan.apply()
	a.Redact.Set(redactor)
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
			if err := a.Queue.DropReader(ro.cfg.Name); err != nil {
				a.log.Warn("could not drop the queue position of a removed output", "output", ro.cfg.Name, "error", err)
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

// inputPlan is a prepared change of the inputs: apply switches over,
// discard undoes the preparation.
type inputPlan struct {
	apply, discard func()
}

// planInputs prepares the inputs of cfg: unchanged ones are kept, ones
// that can be reconfigured are prepared in place, new ones are built and
// started (they only add records to the queue, which is harmless if the
// reload is discarded: they are shut down again).
func (a *Agent) planInputs(cfg *config.Config) (inputPlan, error) {
	oldByName := map[string]*runningInput{}
	for _, ri := range a.inputs {
		oldByName[ri.cfg.Name] = ri
	}
	var next, started []*runningInput
	var applies, discards []func()
	discard := func() {
		for _, d := range discards {
			d()
		}
		for _, ri := range started {
			ri.in.Shutdown(context.Background())
		}
	}
	for _, ic := range a.inputConfigs(cfg) {
		ri := oldByName[ic.Name]
		if ri != nil && ri.cfg.Type == ic.Type {
			if reflect.DeepEqual(ri.cfg.Settings, ic.Settings) {
				next = append(next, ri)
				continue
			}
			if rc, ok := ri.in.(input.Reconfigurer); ok {
				apply, undo, err := rc.Prepare(ic.Settings)
				if err != nil {
					discard()
					return inputPlan{}, fmt.Errorf("input %s: %w", ic.Name, err)
				}
				applies, discards = append(applies, apply), append(discards, undo)
				kept := *ri
				kept.cfg = ic
				next = append(next, &kept)
				continue
			}
		}
		nri, err := a.buildInput(cfg, ic)
		if err == nil {
			err = nri.in.Start(context.Background(), a.Tap.Sink(a.Queue, nri.cfg.Name))
		}
		if err != nil {
			discard()
			return inputPlan{}, fmt.Errorf("input %s: %w", ic.Name, err)
		}
		started = append(started, nri)
		next = append(next, nri)
	}
	apply := func() {
		for _, f := range applies {
			f()
		}
		kept := map[input.Input]bool{}
		for _, ri := range next {
			kept[ri.in] = true
		}
		for _, ri := range a.inputs {
			if !kept[ri.in] {
				if err := ri.in.Shutdown(context.Background()); err != nil {
					a.log.Warn("input did not stop cleanly", "input", ri.cfg.Name, "error", err)
				}
				a.log.Info("input removed", "input", ri.cfg.Name)
			}
		}
		for _, ri := range started {
			a.log.Info("input started", "input", ri.cfg.Name, "type", ri.cfg.Type)
		}
		a.inputs = next
	}
	return inputPlan{apply: apply, discard: discard}, nil
}

// Shutdown stops the inputs, lets connections finish what they read, drains the
// queue into the outputs until ctx ends, and closes everything. Entries not
// delivered by then stay in a durable queue for the next start.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutOnce.Do(func() {
		a.state.Store(int32(Stopping))
		var errs []error
		a.mu.Lock()
		inputs := a.inputs
		a.mu.Unlock()
		for _, ri := range inputs {
			if err := ri.in.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("input %s: %w", ri.cfg.Name, err))
			}
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
