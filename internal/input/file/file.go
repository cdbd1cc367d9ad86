// Package file is the file input: it follows log files matched by globs through rotation, truncation and restarts, and hands each line (or container log entry) to the queue, saving its offsets only once the entries are durable.
//
// One goroutine per input polls: it matches the globs every poll_interval,
// identifies each file by device/inode and a fingerprint (a SHA-256 of its
// first fingerprint_bytes), reads the files that grew in large blocks, in
// turns so that no file starves the others, and appends the entries; a
// committer goroutine calls sink.Sync and only then writes the offsets
// (checkpoint.go), while the next round is read (commit.go). With the
// disk queue, a provisional checkpoint written with every append, tagged
// with the queue's sequence number, lets a restart after a kill -9 read on
// without repeating a line (provisional.go). Nothing depends on inotify.
//
// Rotation: a file renamed away (rename+create) keeps its descriptor and is
// read to its end for rotate_wait before it is let go; on a restart, a file
// whose checkpoint names a path that now holds another file is looked for in
// the same directory by device/inode, then by fingerprint, whatever its new
// name, and finished first. A file that shrinks was truncated
// (copytruncate): the copy is looked for in the same directory by
// fingerprint and read from the old offset, then the file from its start.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/queue"
)

// Type is the input type's name in configurations.
const Type = "file"

// Factory makes file inputs.
type Factory struct{}

var _ input.Factory = Factory{}

// Type is "file".
func (Factory) Type() string { return Type }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config { return defaultConfig() }

// New builds the input without reading anything.
func (Factory) New(cfg component.Config, set component.Settings) (input.Input, error) {
	c := *cfg.(*Config)
	if err := c.Validate(); err != nil { // compiles the pattern in this copy
		return nil, err
	}
	if c.CheckpointDir == "" {
		c.CheckpointDir = set.DataDir
	}
	in := &Input{
		name:      set.Name,
		log:       set.Log,
		maxAppend: max(set.MaxAppendBytes, 64<<10),
		filter:    set.Filter,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	in.cfg.Store(&c)
	in.registerMetrics(set.Metrics)
	return in, nil
}

// Input is one file input.
type Input struct {
	filter    component.EntryFilter // the agent's redaction rules, or nil
	name      string
	log       *slog.Logger
	maxAppend int
	cfg       atomic.Pointer[Config]

	startOnce, stopOnce sync.Once
	started             atomic.Bool
	stop, done          chan struct{}
	cancel              context.CancelFunc

	c counters
}

var (
	_ input.Input          = (*Input)(nil)
	_ input.Reconfigurer   = (*Input)(nil)
	_ input.StatusReporter = (*Input)(nil)
)

// counters are the input's figures, on /metrics and /status.
type counters struct {
	linesRead       atomic.Int64 // physical lines read
	accepted        atomic.Int64 // entries appended to the queue
	rejectedInvalid atomic.Int64 // entries the contract refused (counted, logged once)
	emptyLines      atomic.Int64 // empty lines, which make no entry
	bytesRead       atomic.Int64
	lagBytes        atomic.Int64 // bytes in known files not yet read
	filesWatched    atomic.Int64
	filesOpen       atomic.Int64
	truncations     atomic.Int64
	rotations       atomic.Int64 // files renamed away or deleted and let go
	splitLines      atomic.Int64 // lines longer than max_line_bytes sent in parts
	truncatedLines  atomic.Int64 // lines longer than max_line_bytes cut
	invalidUTF8     atomic.Int64 // entries with bytes replaced by U+FFFD
	parseErrors     atomic.Int64 // lines not in the configured format, sent as text
	queueFull       atomic.Int64 // appends refused by a full queue (retried)
	lostBytes       atomic.Int64 // bytes of files deleted or truncated before being read
	checkpointErrs  atomic.Int64
}

func (in *Input) registerMetrics(m *component.Metrics) {
	c := &in.c
	m.Func("records_read", "Lines read from files.", component.Counter, c.linesRead.Load)
	m.Func("entries_accepted", "Entries appended to the queue.", component.Counter, c.accepted.Load)
	m.Func("entries_rejected_invalid", "Entries refused by the contract's rules.", component.Counter, c.rejectedInvalid.Load)
	m.Func("lines_empty", "Empty lines skipped (an entry needs a payload).", component.Counter, c.emptyLines.Load)
	m.Func("read_bytes", "Bytes read from files.", component.Counter, c.bytesRead.Load)
	m.Func("lag_bytes", "Bytes in the files followed not yet read.", component.Gauge, c.lagBytes.Load)
	m.Func("files_watched", "Files followed.", component.Gauge, c.filesWatched.Load)
	m.Func("files_open", "Files held open.", component.Gauge, c.filesOpen.Load)
	m.Func("truncations", "Files found truncated.", component.Counter, c.truncations.Load)
	m.Func("rotations", "Files renamed away or deleted, read to their end and let go.", component.Counter, c.rotations.Load)
	m.Func("lines_split", "Lines longer than max_line_bytes sent in parts.", component.Counter, c.splitLines.Load)
	m.Func("lines_truncated", "Lines longer than max_line_bytes cut to it.", component.Counter, c.truncatedLines.Load)
	m.Func("entries_invalid_utf8", "Entries whose bytes that are not UTF-8 were replaced by U+FFFD.", component.Counter, c.invalidUTF8.Load)
	m.Func("parse_errors", "Lines not in the configured format, sent as text.", component.Counter, c.parseErrors.Load)
	m.Func("queue_full", "Appends refused by a full queue and retried.", component.Counter, c.queueFull.Load)
	m.Func("lost_bytes", "Bytes of files deleted or truncated before they were read.", component.Counter, c.lostBytes.Load)
	m.Func("checkpoint_errors", "Checkpoints that could not be written.", component.Counter, c.checkpointErrs.Load)
}

// Name returns the input's name.
func (in *Input) Name() string { return in.name }

// Start loads the checkpoint and starts following the files.
func (in *Input) Start(_ context.Context, sink input.Sink) error {
	cfg := in.cfg.Load()
	if err := os.MkdirAll(cfg.CheckpointDir, 0o700); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	path := checkpointPath(cfg.CheckpointDir, in.name)
	ck, found, how, err := resumeFrom(path, sink)
	if err != nil {
		return err
	}
	saved := ck.Files
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	r := newReader(in, sink, path, saved, ck.Gen, !found)
	in.started.Store(true)
	go func() {
		defer close(in.done)
		r.run(ctx)
	}()
	in.log.Info("following files", "include", cfg.Include, "format", cfg.Format, "checkpoints", len(saved), "resumed_from", how)
	return nil
}

// Prepare takes a new configuration in place: the positions are kept.
func (in *Input) Prepare(cfg component.Config) (apply, discard func(), err error) {
	c := *cfg.(*Config)
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	old := in.cfg.Load()
	if c.CheckpointDir != old.CheckpointDir {
		return nil, nil, errors.New("the data directory changes only with a restart")
	}
	return func() { in.cfg.Store(&c) }, func() {}, nil
}

// Status reports the files followed and what is left to read.
func (in *Input) Status() input.Status {
	return input.Status{Figures: map[string]int64{
		"files_watched":    in.c.filesWatched.Load(),
		"files_open":       in.c.filesOpen.Load(),
		"lag_bytes":        in.c.lagBytes.Load(),
		"entries_accepted": in.c.accepted.Load(),
		"truncations":      in.c.truncations.Load(),
	}}
}

// Shutdown stops reading, appends and syncs what was read, saves the
// offsets and closes the files.
func (in *Input) Shutdown(ctx context.Context) error {
	in.stopOnce.Do(func() { close(in.stop) })
	if !in.started.Load() {
		return nil
	}
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		in.cancel() // a blocked append gives up; its lines are read again next start
		<-in.done
		return fmt.Errorf("input %s: %w", in.name, ctx.Err())
	}
}

// appendOnce appends records, with their provisional checkpoint when the
// queue numbers them.
func (r *reader) appendOnce(ctx context.Context, recs [][]byte) error {
	if r.prov.seqs != nil {
		return r.prov.seqs.AppendNumbered(ctx, recs, r.beforeWrite)
	}
	return r.sink.Append(ctx, recs)
}

// appendRetry appends records, waiting while the queue is full: lines are
// never skipped. It fails only when ctx ends or the queue is closed.
func (r *reader) appendRetry(ctx context.Context, recs [][]byte) error {
	wait := 10 * time.Millisecond
	for {
		err := r.appendOnce(ctx, recs)
		if err == nil {
			return nil
		}
		if !errors.Is(err, queue.ErrFull) {
			return err
		}
		if r.in.c.queueFull.Add(1) == 1 || wait == 10*time.Millisecond {
			r.in.log.Warn("queue full: reading paused until it has room")
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, time.Second)
	}
}
