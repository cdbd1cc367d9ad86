// Package queue holds accepted entries between intake and the outputs, bounded in bytes, with one independent read position per output.
//
// The intake appends each message's records as one unit (all or none); every
// output reads through its own Reader at its own pace and commits what it has
// delivered. A record is freed once every reader has committed past it. The
// memory queue here and the disk queue implement the same Queue interface, so
// the pipeline does not care which one it runs on.
package queue

import (
	"context"
	"errors"
	"time"
)

// ErrFull is returned by Append under the reject policy when the records do not fit.
var ErrFull = errors.New("queue full")

// ErrClosed is returned by Append after Close, and by Reader after Close.
var ErrClosed = errors.New("queue closed")

// Policy says what Append does when the records do not fit within the byte cap.
type Policy string

const (
	// Reject makes Append fail at once with ErrFull, accepting nothing.
	Reject Policy = "reject"
	// Block makes Append wait until there is room (or its context ends).
	Block Policy = "block"
)

// Queue is the intake side and the factory of per-output readers.
type Queue interface {
	// Append adds records as one unit: all of them or, on error, none.
	// The queue copies what it keeps: the caller may reuse the records'
	// memory as soon as Append returns.
	Append(ctx context.Context, records [][]byte) error
	// Sync returns once every record appended before the call is durable
	// (a no-op for a memory queue, an fsync for a disk queue).
	Sync(ctx context.Context) error
	// Reader returns the read position of the output called name, creating
	// it at the current head if it does not exist yet.
	Reader(name string) (Reader, error)
	// CloseWrite refuses further appends; readers then drain what is left and
	// get ErrClosed from Next once they have read everything.
	CloseWrite()
	// Close releases the queue. Records not yet committed by every reader
	// are kept where the queue is durable and lost where it is not.
	Close() error
	// Stats reports the current depth.
	Stats() Stats
	// OldestAge is how long the oldest record not yet committed by every
	// reader has waited (0 when there is none). It may cost a disk read:
	// for metrics and readiness, not for every append.
	OldestAge() time.Duration
	// DropReader forgets the reader called name and its position, so that
	// it no longer holds records (an output removed from the
	// configuration). A Reader already handed out returns ErrClosed from
	// then on. Dropping an unknown name does nothing.
	DropReader(name string) error
}

// Reader is one output's position in the queue.
type Reader interface {
	// Next waits until at least one record is available and returns up to
	// maxRecords records totalling at most maxBytes (but always at least one
	// record). It returns ErrClosed once the queue is closed for writing and
	// this reader has read everything, or ctx.Err() when ctx ends first.
	// Records returned are valid until the next call to Next or Commit.
	Next(ctx context.Context, maxRecords, maxBytes int) ([][]byte, error)
	// Commit marks every record returned by the previous Next as delivered.
	Commit() error
	// Rewind makes the next Next return the uncommitted records again
	// (used after a failed delivery).
	Rewind()
}

// StateReader is a Reader that keeps, with its committed position, a small
// state of its output's: after a restart (or a Rewind) the output learns
// from it exactly what it had delivered up to the position that delivery
// resumes from (the file output keeps its file's identity and length there).
// Both queues here implement it; the disk queue writes the state in the same
// atomic write as the position.
type StateReader interface {
	Reader
	// State returns the state committed with the position the reader
	// resumes from, nil when there is none (a new reader, or a position
	// committed without one).
	State() []byte
	// CommitState is Commit that also records state (at most MaxStateBytes)
	// with the new position. Before the queue makes that position durable it
	// calls durable, which must first make durable everything state
	// describes; while durable fails, the position is not written (and is
	// tried again later). A plain Commit drops the state.
	CommitState(state []byte, durable func() error) error
	// CommitStateDurable is CommitState that returns only once the
	// position and state are durable (for a queue that keeps nothing on
	// disk, at once), or with the error that kept them from being written,
	// or ctx.Err(). An output with nothing recorded yet uses it before its
	// first write, so that a crash right after the first start is undone
	// like any other.
	CommitStateDurable(ctx context.Context, state []byte, durable func() error) error
}

// MaxStateBytes bounds the state a StateReader keeps with its position.
const MaxStateBytes = 1 << 10

// Stats is a snapshot of a queue's depth.
type Stats struct {
	Records  int64 // records appended and not yet committed by every reader
	Bytes    int64 // their size as counted against MaxBytes
	MaxBytes int64 // the byte cap
	// Oldest is when the oldest record still waiting was appended (zero
	// when the queue is empty).
	Oldest time.Time
}
