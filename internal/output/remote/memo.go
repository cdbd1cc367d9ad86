package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/record"
)

// Memo remembers, across the attempts at one batch, which of its entries
// a backend already took or refused for good, by entry id, so that a retry
// sends only the rest: an entry the backend acknowledged is never sent
// twice by this agent while it runs. An output keeps one Memo and calls
// Done when a Write ends the batch (success or permanent refusal).
type Memo struct {
	delivered map[string]struct{}
	refused   map[string]error
}

// Delivered reports whether the entry with id was taken.
func (m *Memo) Delivered(id string) bool { _, ok := m.delivered[id]; return ok }

// Refused returns why the entry with id was refused for good, or nil.
func (m *Memo) Refused(id string) error { return m.refused[id] }

// Pending reports whether the entry still has to be sent.
func (m *Memo) Pending(id string) bool { return !m.Delivered(id) && m.Refused(id) == nil }

// MarkDelivered records that the backend took the entry.
func (m *Memo) MarkDelivered(id string) {
	if m.delivered == nil {
		m.delivered = make(map[string]struct{})
	}
	m.delivered[id] = struct{}{}
}

// MarkRefused records that the backend refused the entry for good.
func (m *Memo) MarkRefused(id string, reason error) {
	if m.refused == nil {
		m.refused = make(map[string]error)
	}
	m.refused[id] = reason
}

// Done forgets the batch.
func (m *Memo) Done() { clear(m.delivered); clear(m.refused) }

// Outcome ends a Write whose every entry was either delivered or refused:
// nil when none was refused, otherwise a permanent error naming the refused
// indexes (ids[i] is the id of the Write's i-th record), which the
// dispatcher sends to the dead-letter store with the reasons. It calls
// Done.
func (m *Memo) Outcome(ids []string) error {
	defer m.Done()
	if len(m.refused) == 0 {
		return nil
	}
	r := &Refusal{}
	reasons := map[string]int{}
	var order []string
	for i, id := range ids {
		if err := m.refused[id]; err != nil {
			r.Indexes = append(r.Indexes, i)
			msg := err.Error()
			if reasons[msg] == 0 {
				order = append(order, msg)
			}
			reasons[msg]++
		}
	}
	if len(r.Indexes) == 0 {
		return nil
	}
	parts := make([]string, len(order))
	for i, msg := range order {
		parts[i] = fmt.Sprintf("%s (%d)", msg, reasons[msg])
	}
	r.Err = errors.New(strings.Join(parts, "; "))
	return output.Permanent(r)
}

// Retry ends a Write that must be tried again: a retryable error that
// tells the dispatcher how many entries this Write delivered.
func (m *Memo) Retry(err error, deliveredNow int) error {
	re := &output.RetryableError{Err: err, After: output.RetryAfter(err), Delivered: deliveredNow}
	var inner *output.RetryableError
	if errors.As(err, &inner) {
		re.Err = inner.Err
	}
	return re
}

// Refusal is a permanent refusal of some of a Write's records.
type Refusal struct {
	Err     error
	Indexes []int
}

func (r *Refusal) Error() string         { return r.Err.Error() }
func (r *Refusal) Unwrap() error         { return r.Err }
func (r *Refusal) RefusedIndexes() []int { return r.Indexes }

// Request is one way of sending a group of entries: encode makes the body,
// post sends it (nil, or an output error).
type Request[T any] struct {
	ID       func(T) string
	Encode   func([]T) ([]byte, error)
	Post     func(ctx context.Context, body []byte) error
	MaxBytes int // a body larger than this is split (when it has more than one entry)
}

// SendHalving sends items, halving a group whose body is larger than
// MaxBytes or that the backend refused with 413 until it fits or is a
// single entry. Results are marked in m; *delivered counts the entries
// delivered. A retryable failure is returned at once (what was delivered
// stays marked, so the retry skips it); a permanent one marks its entries
// refused and goes on.
func SendHalving[T any](ctx context.Context, m *Memo, r Request[T], items []T, delivered *int) error {
	if len(items) == 0 {
		return nil
	}
	body, err := r.Encode(items)
	if err != nil {
		return output.Permanent(err)
	}
	if len(body) > r.MaxBytes && len(items) > 1 {
		return halves(ctx, m, r, items, delivered)
	}
	err = r.Post(ctx, body)
	var se *StatusError
	switch {
	case err == nil:
		for _, it := range items {
			m.MarkDelivered(r.ID(it))
		}
		*delivered += len(items)
		return nil
	case output.IsPermanent(err) && errors.As(err, &se) && se.Status == http.StatusRequestEntityTooLarge && len(items) > 1:
		return halves(ctx, m, r, items, delivered)
	case output.IsPermanent(err):
		for _, it := range items {
			m.MarkRefused(r.ID(it), err)
		}
		return nil
	}
	return err
}

func halves[T any](ctx context.Context, m *Memo, r Request[T], items []T, delivered *int) error {
	mid := len(items) / 2
	if err := SendHalving(ctx, m, r, items[:mid], delivered); err != nil {
		return err
	}
	return SendHalving(ctx, m, r, items[mid:], delivered)
}

// Pending reads every record of a Write with read (which returns the
// entry as the output keeps it and its id), and returns the ids of all of
// them, in order, and the entries not yet delivered or refused in an
// earlier attempt at this batch. A record read cannot take is refused for
// good with read's error.
func Pending[T any](m *Memo, records [][]byte, read func(rec []byte) (T, string, error)) (ids []string, todo []T) {
	ids = make([]string, len(records))
	todo = make([]T, 0, len(records))
	for i, r := range records {
		v, id, err := read(r)
		if err != nil {
			ids[i] = fmt.Sprintf("unreadable-%d", i)
			m.MarkRefused(ids[i], err)
			continue
		}
		ids[i] = id
		if m.Pending(id) {
			todo = append(todo, v)
		}
	}
	return ids, todo
}

// End ends a Write: a retry when err is set (with the entries delivered
// so far), else the outcome of the batch.
func (m *Memo) End(err error, delivered int, ids []string) error {
	if err != nil {
		return m.Retry(err, delivered)
	}
	return m.Outcome(ids)
}

// ParseEntry reads a record whole, for Pending.
func ParseEntry(rec []byte) (record.Entry, string, error) {
	e, err := record.Parse(rec)
	return e, e.ID, err
}

// Headed is a record of a Write still to be sent, with its head.
type Headed struct {
	Index int // in the Write's records
	Head  record.Head
}

// Sort reads only the head of each of a Write's records (Pending with
// record.ReadHead), for outputs that send records whole.
func (m *Memo) Sort(records [][]byte) (ids []string, pending []Headed) {
	i := -1
	return Pending(m, records, func(r []byte) (Headed, string, error) {
		i++
		h, err := record.ReadHead(r)
		return Headed{Index: i, Head: h}, h.ID, err
	})
}
