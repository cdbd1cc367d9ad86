package logflux

import (
	"errors"
	"strconv"
	"strings"
)

// ErrQueueFull is returned by Log when the entry was dropped because the
// client's queue had no room for it (counted in Stats.Dropped["queue_full"]).
var ErrQueueFull = errors.New("logflux: queue full, entry dropped")

// ErrClosed is returned by Log, Flush and Close once the client is closed
// (a dropped entry is counted in Stats.Dropped["closed"]).
var ErrClosed = errors.New("logflux: client closed")

// ErrInvalidEntry is returned by Log when the entry breaks a rule of the
// Agent API that the agent would refuse it for, such as an empty payload
// (counted in Stats.Dropped["invalid"]).
var ErrInvalidEntry = errors.New("logflux: invalid entry")

// ErrUnavailable is returned by Flush and Close when the agent cannot be
// reached. The error also wraps the cause, such as the dial error or an
// *AgentError matching ErrAuthFailed.
var ErrUnavailable = errors.New("logflux: agent unavailable")

// ErrAuthFailed matches an *AgentError with which the agent refused the
// shared secret (codes auth_failed, auth_required, auth_timeout).
var ErrAuthFailed = errors.New("logflux: agent refused authentication")

// AgentError is an error response from the agent.
type AgentError struct {
	Code    string       // such as "invalid_entry" or "auth_failed"
	Message string       // the agent's explanation
	Errors  []EntryError // the entries at fault, for entry-level problems
}

// EntryError names one refused entry of a batch.
type EntryError struct {
	Index   int    // position in the batch
	Field   string // such as "logLevel"
	Message string
}

func (e *AgentError) Error() string {
	var b strings.Builder
	b.WriteString("logflux: agent answered ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Errors) > 0 {
		b.WriteString(" (")
		b.WriteString(strconv.Itoa(len(e.Errors)))
		b.WriteString(" entries)")
	}
	return b.String()
}

// Is reports whether e is an authentication refusal when target is
// ErrAuthFailed.
func (e *AgentError) Is(target error) bool {
	return target == ErrAuthFailed && strings.HasPrefix(e.Code, "auth_")
}
