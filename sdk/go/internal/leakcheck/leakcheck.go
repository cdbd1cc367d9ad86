// Package leakcheck fails a test binary that leaves goroutines running,
// as go.uber.org/goleak's VerifyTestMain does, with the standard library
// only (the SDK's core module has no third-party dependencies).
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and then cleanup, and fails the binary if goroutines
// other than the runtime's and the testing package's are still running two
// seconds on.
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
func Main(m *testing.M, cleanup ...func()) {
	code := m.Run()
	for _, f := range cleanup {
		f()
	}
	if code == 0 {
		if err := Check(2 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// Check waits up to timeout for every goroutine but the caller and the
// runtime's and testing's own to end, and reports those left.
func Check(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := leftover()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leakcheck: %d goroutines still running after the tests:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ignored are functions whose goroutines belong to the runtime or testing.
var ignored = []string{
	"testing.RunTests",
	"testing.(*T).Run",
	"testing.(*F).Fuzz",
	"testing.(*M).",
	"testing.tRunner",
	"runtime.goexit",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"runtime/trace.Start",
	"runtime.ReadTrace",
}

func leftover() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var left []string
	for _, s := range stacks[1:] { // the first is this goroutine
		if !isIgnored(s) {
			left = append(left, s)
		}
	}
	return left
}

func isIgnored(stack string) bool {
	lines := strings.Split(stack, "\n")
	if len(lines) < 2 {
		return true
	}
	top := lines[1] // the goroutine's current function
	for _, f := range ignored {
		if strings.HasPrefix(top, f) {
			return true
		}
	}
	// The goroutine that runs the tests, parked in testing's machinery.
	return strings.Contains(stack, "\ntesting.(*M).Run(") || strings.Contains(stack, "\nmain.main()")
}
