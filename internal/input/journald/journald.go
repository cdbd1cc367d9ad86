// Package journald is the journald input: it runs journalctl --output=json --follow, turns each journal entry into an entry with payloadType systemd_journal, and keeps the journal cursor of the last entry the queue holds durably.
//
// The cursor is written (to a temporary file, fsynced, renamed over the
// cursor file, directory fsynced) only after sink.Sync returned for every
// entry up to it, so a crash at any moment loses no entry; after a crash
// between the Sync and the cursor write, the entries of that last batch are
// read again (at least once). A clean stop or reload reads what journalctl
// already wrote, makes it durable and saves the cursor: no gap and no
// repetition. When journalctl exits, it is started again after
// restart_delay (doubling up to a minute while it keeps failing), resuming
// after the cursor; each exit is logged with its last lines of stderr.
package journald

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/entrybuild"
)

// Type is the input type's name in configurations.
const Type = "journald"

// PayloadType is what every journal entry carries.
const PayloadType = "systemd_journal"

// maxLineBytes bounds one journal entry as JSON; a longer line is skipped
// and counted (journalctl with --all can print fields of any size).
const maxLineBytes = 16 << 20

// Factory makes journald inputs.
type Factory struct{}

var _ input.Factory = Factory{}

// Type is "journald".
func (Factory) Type() string { return Type }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config { return defaults() }

// New builds the input without starting journalctl.
func (Factory) New(cfg component.Config, set component.Settings) (input.Input, error) {
	c := *cfg.(*Config)
	in := &Input{name: set.Name, log: set.Log, maxAppend: set.MaxAppendBytes, filter: set.Filter,
		cursorPath: c.cursorPath(set.DataDir, set.Name), reload: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if in.log == nil {
		in.log = slog.Default()
	}
	in.cfg.Store(&c)
	cur, err := readCursor(in.cursorPath)
	if err != nil {
		return nil, err
	}
	in.cursor = cur
	in.ctx, in.cancel = context.WithCancel(context.Background())
	m := set.Metrics
	in.ctr.Register(m, "Journal entries read.")
	m.Func("lag_milliseconds", "How long before it was read the last entry was written to the journal.", component.Gauge, in.lagMs.Load)
	m.Func("journalctl_restarts", "Times journalctl exited and was started again.", component.Counter, in.restarts.Load)
	m.Func("cursor_saves", "Times the cursor was saved after the entries before it were durable.", component.Counter, in.saves.Load)
	m.Func("lines_skipped", "Lines from journalctl that were not a journal entry (or over 16 MiB).", component.Counter, in.skipped.Load)
	return in, nil
}

// Input is one journald input.
type Input struct {
	name       string
	log        *slog.Logger
	maxAppend  int
	filter     component.EntryFilter // the agent's redaction rules
	cursorPath string
	cfg        atomic.Pointer[Config]

	ctx    context.Context // ends when Shutdown gives up waiting
	cancel context.CancelFunc
	sink   input.Sink
	reload chan struct{}
	stop   chan struct{} // closed by Shutdown
	done   chan struct{} // closed when run ends

	stopOnce  sync.Once
	stopping  atomic.Bool
	started   atomic.Bool
	mu        sync.Mutex
	child     *exec.Cmd
	cursor    string // of the last durable entry
	since     string // resume point before any cursor: the first start's time
	lastStart time.Time

	ctr      entrybuild.Counters
	lagMs    atomic.Int64
	restarts atomic.Int64
	saves    atomic.Int64
	skipped  atomic.Int64
}

var (
	_ input.Input          = (*Input)(nil)
	_ input.Reconfigurer   = (*Input)(nil)
	_ input.StatusReporter = (*Input)(nil)
)

// Name returns the input's name.
func (in *Input) Name() string { return in.name }

// Counters are the input's entry counters.
func (in *Input) Counters() *entrybuild.Counters { return &in.ctr }

// Cursor returns the cursor of the last durable entry.
func (in *Input) Cursor() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cursor
}

// Start starts journalctl and reads it. An error means the cursor
// directory cannot be written or journalctl cannot be found.
func (in *Input) Start(_ context.Context, sink input.Sink) error {
	if err := os.MkdirAll(filepath.Dir(in.cursorPath), 0o750); err != nil {
		return fmt.Errorf("journald cursor: %w", err)
	}
	if _, err := exec.LookPath(in.cfg.Load().JournalctlPath); err != nil {
		return fmt.Errorf("journald: %w", err)
	}
	in.sink = sink
	in.started.Store(true)
	go in.run()
	return nil
}

// run starts journalctl again whenever it exits, until Shutdown.
func (in *Input) run() {
	defer close(in.done)
	c := in.cfg.Load()
	bo := backoff.Backoff{Base: c.RestartDelay, Max: time.Minute, Min: c.RestartDelay / 2}
	for !in.stopping.Load() {
		began := time.Now()
		reloaded, err := in.follow()
		if in.stopping.Load() {
			return
		}
		if reloaded {
			bo.Reset()
			continue
		}
		if time.Since(began) > time.Minute {
			bo.Reset()
		}
		c = in.cfg.Load()
		bo.Base, bo.Min = c.RestartDelay, c.RestartDelay/2
		wait := bo.Next()
		in.restarts.Add(1)
		in.log.Warn("journalctl exited; starting it again", "error", err, "after", wait.Round(time.Millisecond), "failures", bo.Failures())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-in.stop:
			t.Stop()
			return
		case <-in.reload:
			t.Stop()
		}
	}
}

// follow runs journalctl once and reads it until it exits (or is stopped
// for a reload or Shutdown); it reports whether a reload stopped it.
func (in *Input) follow() (reloaded bool, err error) {
	c := in.cfg.Load()
	in.mu.Lock()
	if in.stopping.Load() {
		in.mu.Unlock()
		return false, nil
	}
	cursor := in.cursor
	resume := c
	if cursor == "" && c.Since == "" && in.since != "" {
		cc := *c
		cc.Since = in.since
		resume = &cc
	}
	cmd := exec.Command(c.JournalctlPath, resume.args(cursor)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		in.mu.Unlock()
		return false, err
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		in.mu.Unlock()
		return false, err
	}
	if in.since == "" {
		// Before any cursor, a restart resumes from the first start's time.
		in.since = time.Now().UTC().Add(-time.Second).Format("2006-01-02 15:04:05") + " UTC"
	}
	in.child = cmd
	in.mu.Unlock()
	in.log.Info("following the journal", "command", cmd.String())

	stopped := make(chan struct{})
	var why atomic.Value
	go func() { // stops journalctl on reload or Shutdown; its output is read to the end
		select {
		case <-in.reload:
			why.Store("reload")
		case <-in.stop:
		case <-stopped:
			return
		}
		cmd.Process.Kill()
	}()
	readErr := in.read(stdout, c)
	close(stopped)
	if readErr != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	in.mu.Lock()
	in.child = nil
	in.mu.Unlock()
	if why.Load() == "reload" {
		return true, nil
	}
	if readErr != nil {
		return false, readErr
	}
	if msg := stderr.String(); msg != "" {
		return false, fmt.Errorf("%v: %s", werr, msg)
	}
	if werr == nil {
		werr = errors.New("exited with status 0")
	}
	return false, werr
}

// read reads journal entries until journalctl's output ends, appending
// them whenever the pipe has nothing more buffered (or a batch is full),
// then saving the cursor once they are durable.
func (in *Input) read(r io.Reader, c *Config) error {
	br := bufio.NewReaderSize(r, 256<<10)
	b := entrybuild.New(in.name, in.maxAppend, in.filter)
	var line []byte
	pendingCursor := ""
	var j entry
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(line) > maxLineBytes {
				line = line[:0]
				in.skipped.Add(1)
				// Skip to the end of this line.
				for err == bufio.ErrBufferFull {
					_, err = br.ReadSlice('\n')
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			in.ctr.Read.Add(1)
			in.ctr.Bytes.Add(int64(len(line)))
			if b.Len() == 0 {
				b.Received(time.Now())
			}
			if cur, ok := in.add(b, &j, line, c); ok {
				pendingCursor = cur
			}
		}
		line = line[:0]
		if err != nil || br.Buffered() == 0 || b.Full() {
			if ferr := in.flush(b, pendingCursor); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// flush appends what b gathered, waits until it is durable and saves the
// cursor of its last entry.
func (in *Input) flush(b *entrybuild.Builder, cursor string) error {
	n := b.Len()
	if n > 0 {
		if err := b.AppendWaiting(in.ctx, in.sink, nil); err != nil {
			return fmt.Errorf("the queue did not take %d entries: %w", n, err)
		}
		in.ctr.Accepted.Add(int64(n))
	}
	in.mu.Lock()
	same := cursor == "" || cursor == in.cursor
	in.mu.Unlock()
	if same {
		return nil
	}
	if err := in.sink.Sync(in.ctx); err != nil {
		return fmt.Errorf("the queue could not make entries durable: %w", err)
	}
	if err := writeCursor(in.cursorPath, cursor); err != nil {
		in.log.Error("journald cursor not saved; after a crash entries since the last save are read again", "error", err)
	} else {
		in.saves.Add(1)
	}
	in.mu.Lock()
	in.cursor = cursor
	in.mu.Unlock()
	return nil
}

// entry is one journal entry as journalctl --output=json prints it.
type entry map[string]json.RawMessage

// add turns one JSON line into an entry; it returns the entry's cursor.
// A line that is not a journal entry is counted and skipped.
func (in *Input) add(b *entrybuild.Builder, j *entry, line []byte, c *Config) (string, bool) {
	clear(*j)
	if err := json.Unmarshal(line, j); err != nil {
		in.skipped.Add(1)
		in.ctr.Reject(entrybuild.ReasonDecode, 1)
		return "", false
	}
	e := *j
	cursor := text(e["__CURSOR"])
	f := entrybuild.Fields{PayloadType: PayloadType, LogLevel: 7}
	f.Payload = text(e["MESSAGE"])
	if p, err := strconv.Atoi(text(e["PRIORITY"])); err == nil && p >= 0 && p <= 7 {
		f.LogLevel = p + 1
	}
	if us, err := strconv.ParseInt(text(e["__REALTIME_TIMESTAMP"]), 10, 64); err == nil && us > 0 {
		f.Time = time.UnixMicro(us)
		in.lagMs.Store(time.Since(f.Time).Milliseconds())
	}
	for _, k := range c.Fields {
		if v, ok := e[k]; ok && string(v) != "null" {
			f.Metadata = append(f.Metadata, entrybuild.KV{Key: k, Value: text(v)})
		}
	}
	switch {
	case c.Source != "":
		f.Source = c.Source
	case text(e["SYSLOG_IDENTIFIER"]) != "":
		f.Source = text(e["SYSLOG_IDENTIFIER"])
	case text(e["_COMM"]) != "":
		f.Source = text(e["_COMM"])
	case text(e["_SYSTEMD_UNIT"]) != "":
		f.Source = text(e["_SYSTEMD_UNIT"])
	default:
		f.Source = "journald"
	}
	truncated, err := b.Add(&f)
	if truncated {
		in.ctr.Truncated.Add(1)
	}
	if err != nil {
		in.ctr.Reject(entrybuild.ReasonInvalid, 1)
		in.log.Warn("journal entry refused", "cursor", cursor, "error", err)
	}
	return cursor, cursor != ""
}

// text reads a journal field's value: a string, an array of byte values
// (a field that is not valid UTF-8), or an array of either (a field given
// more than once, joined with newlines). null (a field over 4096 bytes
// without --all) is "".
func text(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		json.Unmarshal(raw, &s)
		return s
	case '[':
		var bs []byte
		var nums []int
		if json.Unmarshal(raw, &nums) == nil {
			bs = make([]byte, 0, len(nums))
			for _, n := range nums {
				bs = append(bs, byte(n))
			}
			return string(bs)
		}
		var many []json.RawMessage
		if json.Unmarshal(raw, &many) == nil {
			parts := make([]string, len(many))
			for i, m := range many {
				parts[i] = text(m)
			}
			return strings.Join(parts, "\n")
		}
	}
	return ""
}

// readCursor reads a saved cursor ("" when there is none).
func readCursor(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("journald cursor: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeCursor replaces the cursor file atomically and durably.
func writeCursor(path, cursor string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(cursor + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tailBuffer keeps the last 2 KiB written to it (journalctl's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2048 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-2048:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// Prepare takes a new configuration (see input.Reconfigurer): apply stops
// journalctl, makes what it read durable, saves the cursor and starts it
// again with the new filters, resuming after the cursor.
func (in *Input) Prepare(cfg component.Config) (apply, discard func(), err error) {
	c := cfg.(*Config)
	if p := c.cursorPath("", in.name); c.CursorFile != "" && p != in.cursorPath {
		return nil, nil, errors.New("cursor_file changes only with a restart")
	}
	if _, err := exec.LookPath(c.JournalctlPath); err != nil {
		return nil, nil, fmt.Errorf("journald: %w", err)
	}
	apply = func() {
		in.cfg.Store(c)
		select {
		case in.reload <- struct{}{}:
		default:
		}
	}
	return apply, func() {}, nil
}

// Status shows the cursor file and the counters.
func (in *Input) Status() input.Status {
	f := in.ctr.Figures()
	f["lag_milliseconds"] = in.lagMs.Load()
	f["journalctl_restarts"] = in.restarts.Load()
	in.mu.Lock()
	running := in.child != nil
	in.mu.Unlock()
	if running {
		f["journalctl_running"] = 1
	} else {
		f["journalctl_running"] = 0
	}
	return input.Status{Figures: f}
}

// Shutdown stops journalctl, appends what it had written, saves the cursor
// once that is durable, and returns when done or ctx ends.
func (in *Input) Shutdown(ctx context.Context) error {
	if !in.started.Load() {
		return nil
	}
	in.stopOnce.Do(func() {
		in.stopping.Store(true)
		close(in.stop) // journalctl is stopped; what it wrote is read to the end
	})
	select {
	case <-in.done:
		in.cancel()
		return nil
	case <-ctx.Done():
		in.cancel()
		<-in.done
		return fmt.Errorf("input %s: %w", in.name, ctx.Err())
	}
}
