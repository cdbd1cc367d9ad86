package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/logflux/agent/internal/config"
)

// InUseError is returned when a directory the agent needs for itself (its
// queue, its dead-letter store) is locked by another process.
type InUseError struct {
	Dir string
	PID int // the holder's process id, 0 when it did not record one
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is in use by another agent (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("%s is in use by another agent", e.Dir)
}

// recordHolder writes this process's id into a lock file it holds, so that
// whoever finds the directory locked can say by whom.
func recordHolder(f *os.File) {
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
}

// lockHolder reads the process id a lock file's holder recorded (0: none).
func lockHolder(f *os.File) int {
	var buf [32]byte
	n, _ := f.ReadAt(buf[:], 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// describeLockError names the data directory rather than its queue or
// dead-letter subdirectory when that is how the operator configured it.
func describeLockError(cfg *config.Config, dir string, err error) error {
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		return err
	}
	if filepath.Dir(filepath.Clean(dir)) == filepath.Clean(cfg.DataDir) {
		return fmt.Errorf("data dir %w", &InUseError{Dir: cfg.DataDir, PID: inUse.PID})
	}
	return fmt.Errorf("directory %w", inUse)
}

// describeOutputError says which output could not be built (a file
// output's error names its file).
func describeOutputError(oc config.OutputConfig, err error) error {
	return fmt.Errorf("output %s: %w", oc.Name, err)
}

// memoryOverhead is what the agent needs besides the line buffer budget and
// a memory queue: connections' small buffers, the disk queue's cache,
// outputs' batches, the runtime.
const memoryOverhead = 256 << 20

// SetMemoryLimit gives the Go runtime a soft memory limit of what the
// configuration lets the agent hold (limits.max_buffered_bytes, a memory
// queue's max_bytes, plus memoryOverhead), unless the operator set
// GOMEMLIMIT. Without it, garbage from buffers that clients made grow (and
// that were then dropped) may double the process's memory before the
// collector runs, past what the budget promises.
func SetMemoryLimit(cfg *config.Config, getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(cfg.Limits.MaxBufferedBytes) + memoryOverhead
	if cfg.Queue.Type == "memory" {
		limit += int64(cfg.Queue.MaxBytes)
	}
	debug.SetMemoryLimit(limit)
	return limit
}
