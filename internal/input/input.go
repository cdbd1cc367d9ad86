// Package input defines what an input is: a component that receives entries from somewhere and hands them, validated and normalised, to the queue.
//
// The agent builds each configured input with its type's Factory (listed in
// internal/components), starts it with a Sink — the intake side of the
// queue — and shuts it down on stop or when a reload removes it. Every input
// produces records in the one normalised layout (internal/record), through
// the same validation as the Agent API (internal/protocol), under the same
// limits; docs/architecture.md has the picture and the recipe for a new one.
package input

import (
	"context"

	"github.com/logflux/agent/internal/component"
)

// Sink is where an input's records go: the intake side of the queue.
type Sink interface {
	// Append adds normalised records (internal/record) as one unit: all of
	// them, or on error none. It may block (queue.when_full: block) until
	// ctx ends; under the reject policy it fails with queue.ErrFull. The
	// caller may reuse the records' memory once it returns.
	Append(ctx context.Context, records [][]byte) error
	// Sync returns once every record appended before the call is durable.
	// An input acknowledges its source (a client's flush, a file offset)
	// only after Sync.
	Sync(ctx context.Context) error
}

// SeqSink is a Sink whose records get sequence numbers that survive a
// restart of the agent (the disk queue). The file input uses it to tell,
// after a kill -9, which of its appends the queue kept (provisional.go
// there). A wrapper of a Sink implements it only when the Sink it wraps
// does.
type SeqSink interface {
	Sink
	// AppendNumbered is Append that first calls before, once the records'
	// numbers are fixed and before they are written, with the number of
	// the last one (under the queue's lock: it must be quick). If the
	// append then fails, those numbers are given to later records.
	AppendNumbered(ctx context.Context, records [][]byte, before func(last uint64)) error
	// RecoveredSeq is the number of the last record the queue found, and
	// made durable, when it was opened: every append whose last record is
	// numbered up to it is in the queue, whole.
	RecoveredSeq() uint64
}

// Input is one running input.
type Input interface {
	// Name is the input's configured name, in logs, metrics, /status and
	// every record it produces.
	Name() string
	// Start begins receiving and returns quickly; receiving goes on in
	// goroutines the input owns until Shutdown. An error means nothing was
	// started (a listener could not be opened, say).
	Start(ctx context.Context, sink Sink) error
	// Shutdown stops receiving, hands what was already received to the
	// sink, and returns when every goroutine has ended or ctx ends. It is
	// idempotent and safe before Start.
	Shutdown(ctx context.Context) error
}

// Reconfigurer is an input that can take a new configuration in place
// (keeping open connections, say) instead of being replaced. A reload is
// applied whole or not at all: Prepare acquires what the new configuration
// needs and may fail without changing anything; then exactly one of apply
// (switches over; cannot fail) or discard (releases what Prepare acquired)
// is called.
type Reconfigurer interface {
	Prepare(cfg component.Config) (apply, discard func(), err error)
}

// Status is what an input reports on /status.
type Status struct {
	Listeners []string `json:"listeners,omitempty"` // addresses it receives on, as URLs
	// Figures are the few numbers a person checks first (files followed,
	// bytes not read yet), by name.
	Figures map[string]int64 `json:"figures,omitempty"`
}

// StatusReporter is an input with something to show on /status.
type StatusReporter interface {
	Status() Status
}

// Factory makes inputs of one type. Each type lives in its own package
// under internal/input/<type>/ and exports a Factory; internal/components
// lists them.
type Factory interface {
	// Type is the name configurations use (`type: agent_api`).
	Type() string
	// NewConfig returns a new configuration of the type with its defaults
	// set; the input's YAML section, without type and name, is decoded
	// strictly into it (a pointer to a struct with yaml tags).
	NewConfig() component.Config
	// New builds an input from a configuration NewConfig made, after Finish
	// and a successful Validate, without starting it.
	New(cfg component.Config, set component.Settings) (Input, error)
}
