package intake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/queue"
)

// storageLogEvery is how often a storage failure that goes on is logged again.
const storageLogEvery = 10 * time.Second

// storageState tracks whether the queue's storage refuses appends (a full
// disk, an I/O error): logged once when it starts, every storageLogEvery
// while it lasts, and once when it clears; read by readiness.
type storageState struct {
	mu       sync.Mutex
	failing  bool
	reason   string    // what the last failure said, for /readyz and /status
	since    time.Time // when the current failure started
	logged   time.Time // when it was last logged
	refused  int64     // entries refused since it started
	episodes int64     // failures that started, since the agent started
}

// isStorageError reports whether an append failed because the queue could
// not store the records, rather than because it is full by its own cap or
// closed: nothing of them was kept, and the queue stays usable.
func isStorageError(err error) bool {
	return err != nil && !errors.Is(err, queue.ErrFull) && !errors.Is(err, queue.ErrClosed) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && err != errClose
}

// isNoSpace reports whether err is the disk (or the user's quota) being full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// storageAnswer is the answer to a message the queue could not store. A full
// disk is answered queue_full, which every client already retries later
// (a new code would make today's SDKs drop the entries as refused for
// good); the message says what is really wrong.
func storageAnswer(err error) *protocol.Error {
	if isNoSpace(err) {
		where := ""
		var pe *fs.PathError
		if errors.As(err, &pe) {
			where = " in " + filepath.Dir(pe.Path)
		}
		return protocol.NewError(protocol.CodeQueueFull, "no space left on device"+where+"; nothing of this message was accepted, retry later")
	}
	return protocol.NewError(protocol.CodeUnavailable, fmt.Sprintf("the queue could not store this message (%v); nothing of it was accepted, retry later", err))
}

// storageFailed records that n entries were refused because of err.
func (s *Server) storageFailed(err error, n int64) {
	s.Counters.StorageRefused.Add(n)
	st := &s.storage
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	st.refused += n
	st.reason = err.Error()
	if !st.failing {
		st.failing, st.since, st.logged, st.refused = true, now, now, n
		st.episodes++
		s.Counters.StorageFailing.Store(true)
		s.Counters.StorageFailures.Add(1)
		s.log.Error("the queue cannot store entries: refusing them until it can (clients are told to retry)", "error", err)
		return
	}
	if now.Sub(st.logged) >= storageLogEvery {
		st.logged = now
		s.log.Warn("the queue still cannot store entries", "error", err, "for", now.Sub(st.since).Round(time.Second).String(), "entries_refused", st.refused)
	}
}

// storageWorks records a successful append; it ends a failure if one was going on.
func (s *Server) storageWorks() {
	if !s.Counters.StorageFailing.Load() {
		return
	}
	st := &s.storage
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.failing {
		return
	}
	st.failing = false
	s.Counters.StorageFailing.Store(false)
	s.log.Info("the queue stores entries again", "after", time.Since(st.since).Round(time.Millisecond).String(), "entries_refused", st.refused)
}

// StorageProblem says why the queue's storage refuses appends, or "" when
// the last append worked.
func (s *Server) StorageProblem() string {
	if !s.Counters.StorageFailing.Load() {
		return ""
	}
	st := &s.storage
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.failing {
		return ""
	}
	return fmt.Sprintf("the queue cannot store entries since %s: %s", st.since.UTC().Format(time.RFC3339), st.reason)
}
