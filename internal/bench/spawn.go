package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/client"
)

// spawned is a target the bench started itself (--spawn).
type spawned struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

// spawn starts command with /bin/sh (exec'd, so that the pid is the
// target's own) and waits until addr accepts a connection.
func spawn(ctx context.Context, command, addr, secret string) (*spawned, error) {
	s := &spawned{out: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command("/bin/sh", "-c", "exec "+command)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("--spawn: %w", err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := client.Dial(addr, secret, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("--spawn: the target exited before it listened on %s (%v); its output:\n%s", addr, s.err, s.out)
		case <-ctx.Done():
			s.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(5 * time.Second)
			return nil, fmt.Errorf("--spawn: nothing listened on %s within 15s (last: %v); the target's output:\n%s", addr, err, s.out)
		}
	}
}

func (s *spawned) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM, waits up to grace for a clean exit, then kills.
func (s *spawned) stop(grace time.Duration) error {
	select {
	case <-s.done:
		return s.exitErr()
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.exitErr()
	case <-time.After(grace):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("it did not stop within %s of SIGTERM and was killed; its output:\n%s", grace, s.out)
	}
}

func (s *spawned) exitErr() error {
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return fmt.Errorf("it exited with %v; its output:\n%s", ee, s.out)
	}
	return s.err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimRight(string(t.b), "\n")
}
