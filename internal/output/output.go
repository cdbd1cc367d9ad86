// Package output defines what an output is and runs each one against its own queue reader, retrying what can be retried.
package output

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Output delivers batches of normalised entries somewhere.
//
// Each record passed to Write is one normalised entry encoded as a JSON object
// (no trailing newline), with the contract's field names plus id and
// receivedAt. Write is called from one goroutine at a time.
type Output interface {
	// Name identifies the output in logs, metrics and queue positions.
	Name() string
	// Write delivers the records. A nil error means every record is
	// delivered; otherwise the error says, through Permanent and Retryable,
	// whether the same records should be tried again.
	Write(ctx context.Context, records [][]byte) error
	// Close flushes and releases the output.
	Close(ctx context.Context) error
}

// Resumable is implemented by an output that can undo what it wrote past
// the queue position delivery resumes from, so that each entry is delivered
// exactly once across crashes (the file output). The dispatcher commits the
// output's State with the queue position after every Write, where the queue
// keeps states (queue.StateReader), and hands it back through Resume.
type Resumable interface {
	Output
	// Resume is called before the first Write with the state committed with
	// the position the queue resumes from (nil when there is none): the
	// output goes back to what that state describes before it writes again.
	Resume(state []byte)
	// State describes everything written so far, at most
	// queue.MaxStateBytes (called after a successful Write); the result
	// is valid until the next call.
	State() []byte
	// Sync makes durable everything the states it returned describe; the
	// queue calls it before a position committed with one of them is made
	// durable, from a goroutine of its own.
	Sync() error
}

// PermanentError marks a failure that will not go away by retrying the same records.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is (or wraps) a permanent failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// PartialRefusal is implemented by a permanent error that refused only some
// of the records of a Write: the others were delivered, and only the refused
// ones go to the dead-letter store.
type PartialRefusal interface {
	error
	RefusedIndexes() []int
}

// RetryableError marks a transient failure, optionally with the delay a server asked for.
type RetryableError struct {
	Err   error
	After time.Duration // zero: use the normal backoff
	// Delivered counts the records this Write delivered although the batch
	// as a whole failed (an output that remembers them does not send them
	// again when the batch is retried). The dispatcher counts them as sent
	// at once, so that counters follow entries whatever the batch's fate.
	Delivered int
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
	}
	return e.Err.Error()
}
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as a transient failure to be retried after at least after.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: after}
}

// DeliveredBefore returns how many records a failed Write delivered (see
// RetryableError.Delivered), or zero.
func DeliveredBefore(err error) int {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.Delivered
	}
	return 0
}

// RetryAfter returns the delay a retryable error asks for, or zero.
func RetryAfter(err error) time.Duration {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}
