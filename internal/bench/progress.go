package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// snapshot is the progress of a run at one moment.
type snapshot struct {
	elapsed      time.Duration
	entries      int64
	bytes        int64
	landed       int64
	verifyTarget int64 // -1 while unknown
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress shows the run's progress on w: one line rewritten in place
// four times a second on a terminal, a plain line every interval otherwise.
// The returned function stops it and ends the line.
func startProgress(w io.Writer, interval time.Duration, snap func() snapshot) (stop func()) {
	if w == io.Discard {
		return func() {}
	}
	tty := isTerminal(w)
	every := interval
	if tty {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var prev snapshot
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
			}
			s := snap()
			line := progressLine(s, prev)
			prev = s
			if tty {
				fmt.Fprint(w, "\r\033[K"+line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine describes s, with the rates since prev.
func progressLine(s, prev snapshot) string {
	dt := (s.elapsed - prev.elapsed).Seconds()
	var rate, mbs float64
	if dt > 0 {
		rate = float64(s.entries-prev.entries) / dt
		mbs = float64(s.bytes-prev.bytes) / 1e6 / dt
	}
	line := fmt.Sprintf("bench: %6.1fs  sent %s entries  now %s entries/s  %.1f MB/s",
		s.elapsed.Seconds(), group(s.entries), group(int64(rate)), mbs)
	if s.verifyTarget >= 0 || s.landed > 0 {
		line += "  landed " + group(s.landed)
	}
	return line
}
