// Package agent assembles the pipeline — intake, queue, outputs — from a configuration and runs it from Start to Shutdown.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/output/stdout"
	"github.com/logflux/agent/internal/queue"
)

// Agent is one running pipeline.
type Agent struct {
	cfg *config.Config
	log *slog.Logger

	Queue       queue.Queue
	Outputs     []output.Output
	Dispatchers []*output.Dispatcher
	Intake      *intake.Server

	unixAddr, tcpAddr net.Addr
	stopOutputs       context.CancelFunc
	wg                sync.WaitGroup
	shutdownOnce      sync.Once
	shutdownErr       error
}

// New builds the pipeline described by cfg (already validated) without
// starting it.
func New(cfg *config.Config, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &Agent{cfg: cfg, log: log}
	q, err := openQueue(cfg, log)
	if err != nil {
		return nil, err
	}
	a.Queue = q
	for _, oc := range cfg.Outputs {
		o, err := buildOutput(oc)
		if err != nil {
			a.closeOutputs(context.Background())
			q.Close()
			return nil, fmt.Errorf("output %s: %w", oc.Name, err)
		}
		a.Outputs = append(a.Outputs, o)
	}
	a.Intake = intake.New(intake.Options{
		MaxLineBytes:   int(cfg.Limits.MaxLineBytes),
		MaxBatch:       cfg.Limits.MaxBatchEntries,
		MaxConnections: cfg.Limits.MaxConnections,
		WriteTimeout:   cfg.Limits.WriteTimeout,
		IdleTimeout:    cfg.Limits.IdleTimeout,
		AuthTimeout:    cfg.TCP.AuthTimeout,
		SharedSecret:   cfg.TCP.SharedSecret,
		// Gather at most a quarter of the queue into one append.
		MaxPendingBytes: int(min(1<<20, int64(cfg.Queue.MaxBytes)/4)),
		Log:             log,
	}, q)
	return a, nil
}

func openQueue(cfg *config.Config, log *slog.Logger) (queue.Queue, error) {
	policy := queue.Policy(cfg.Queue.WhenFull)
	switch cfg.Queue.Type {
	case "memory":
		return queue.NewMemory(int64(cfg.Queue.MaxBytes), policy), nil
	default:
		return nil, fmt.Errorf("queue type %q is not available in this build", cfg.Queue.Type)
	}
}

func buildOutput(oc config.OutputConfig) (output.Output, error) {
	switch oc.Type {
	case "file":
		return file.New(file.Options{Name: oc.Name, Path: oc.Path, MaxSize: int64(oc.MaxSize), MaxFiles: oc.MaxFiles})
	case "stdout":
		return stdout.New(oc.Name, nil), nil
	default:
		return nil, fmt.Errorf("output type %q is not available in this build", oc.Type)
	}
}

// Start opens the listeners and starts moving entries to the outputs.
func (a *Agent) Start(ctx context.Context) error {
	octx, cancel := context.WithCancel(context.Background())
	a.stopOutputs = cancel
	for _, o := range a.Outputs {
		r, err := a.Queue.Reader(o.Name())
		if err != nil {
			return fmt.Errorf("queue reader for %s: %w", o.Name(), err)
		}
		d := &output.Dispatcher{Out: o, Reader: r, Log: a.log}
		a.Dispatchers = append(a.Dispatchers, d)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := d.Run(octx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("output stopped", "output", o.Name(), "error", err)
			}
		}()
	}
	if a.cfg.UnixEnabled() {
		ln, err := a.Intake.ListenUnix(a.cfg.Unix.Path, os.FileMode(a.cfg.Unix.Mode), a.cfg.Unix.Group)
		if err != nil {
			return err
		}
		a.unixAddr = ln.Addr()
		a.Intake.Serve(ln, intake.Unix)
		a.log.Info("listening", "transport", "unix", "path", a.cfg.Unix.Path, "mode", a.cfg.Unix.Mode.String())
	}
	if a.cfg.TCPEnabled() {
		ln, err := a.Intake.ListenTCP(a.cfg.TCP.Address)
		if err != nil {
			return err
		}
		a.tcpAddr = ln.Addr()
		a.Intake.Serve(ln, intake.TCP)
		if a.cfg.TCPNonLoopback() {
			a.log.Warn("TCP listener is reachable from other machines; the shared secret is its only protection", "address", ln.Addr().String())
		}
		a.log.Info("listening", "transport", "tcp", "address", ln.Addr().String())
	}
	return nil
}

// TCPAddr returns the TCP listener's address, or nil.
func (a *Agent) TCPAddr() net.Addr { return a.tcpAddr }

// Shutdown stops intake, lets connections finish what they read, drains the
// queue into the outputs until ctx ends, and closes everything. Entries not
// delivered by then stay in a durable queue for the next start.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		var errs []error
		if err := a.Intake.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("intake: %w", err))
		}
		a.Queue.CloseWrite()
		done := make(chan struct{})
		go func() { a.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			st := a.Queue.Stats()
			a.log.Warn("shutdown deadline reached before the outputs drained", "entries_left", st.Records)
			errs = append(errs, fmt.Errorf("draining outputs: %w", ctx.Err()))
		}
		if a.stopOutputs != nil {
			a.stopOutputs()
		}
		<-done
		errs = append(errs, a.closeOutputs(ctx))
		errs = append(errs, a.Queue.Close())
		a.shutdownErr = errors.Join(errs...)
	})
	return a.shutdownErr
}

func (a *Agent) closeOutputs(ctx context.Context) error {
	var errs []error
	for _, o := range a.Outputs {
		if err := o.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", o.Name(), err))
		}
	}
	return errors.Join(errs...)
}
