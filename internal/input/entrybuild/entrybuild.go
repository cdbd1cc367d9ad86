// Package entrybuild turns what a non-API input read (a syslog message, a journal entry, an OTLP log record) into normalised records through the Agent API's own validation, and hands them to the sink in bounded appends.
//
// An input fills Fields; Builder.Add fits them to the contract's limits,
// validates them with protocol.Maker (the rules the Agent API's decoder
// applies to the wire format, without a JSON round trip) and writes the
// record with protocol.AppendRecordStamp. Values that would break a limit are fitted
// first, never dropped: a payload over 1 MiB is cut at a character
// boundary and marked with metadata "truncated" (the original size in
// bytes), a source over 256 characters and metadata values over 1024
// characters are cut, bytes that are not UTF-8 become U+FFFD, and a
// repeated metadata key keeps its first value.
//
// This is the one place the syslog, journald and otlp inputs build entries.
package entrybuild

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/queue"
)

// TruncatedKey is the metadata key set on an entry whose payload was cut to
// the contract's 1 MiB; its value is the payload's original size in bytes.
const TruncatedKey = "truncated"

// KV is one metadata pair.
type KV struct{ Key, Value string }

// Fields are one entry's values as an input read them.
type Fields struct {
	Payload     string // empty payloads become "-" (the contract needs one)
	Source      string
	PayloadType string // "" for generic
	LogLevel    int    // 1-8; anything else becomes 7 (INFO)
	Time        time.Time
	// TimeText, when set, is the entry's time as the source wrote it, an
	// RFC 3339 date-time (used instead of Time); text that is not one
	// leaves the time of receipt.
	TimeText string
	Metadata []KV
}

// Reasons an entry is counted as rejected.
const (
	ReasonInvalid   = "invalid"    // broke a rule of the contract after fitting
	ReasonQueueFull = "queue_full" // refused because the queue was full (the sender was told)
	ReasonDecode    = "decode"     // the input could not read it at all (a malformed request body)
	numReasons      = 3
)

var reasons = [numReasons]string{ReasonInvalid, ReasonQueueFull, ReasonDecode}

// Counters are the figures every non-API input publishes.
type Counters struct {
	Read      atomic.Int64 // records read from the source
	Accepted  atomic.Int64 // entries appended to the queue
	Bytes     atomic.Int64 // bytes read from the source
	Truncated atomic.Int64 // entries whose payload or a value was cut to fit
	rejected  [numReasons]atomic.Int64
}

// Reject counts n entries rejected for reason (one of the Reason constants).
func (c *Counters) Reject(reason string, n int64) {
	for i, r := range reasons {
		if r == reason {
			c.rejected[i].Add(n)
			return
		}
	}
}

// Rejected returns how many entries were rejected for reason.
func (c *Counters) Rejected(reason string) int64 {
	for i, r := range reasons {
		if r == reason {
			return c.rejected[i].Load()
		}
	}
	return 0
}

// Register publishes the counters on m, read names "records_read",
// "entries_accepted", "entries_rejected_<reason>", "read_bytes" and
// "entries_truncated".
func (c *Counters) Register(m *component.Metrics, readHelp string) {
	m.Func("records_read", readHelp, component.Counter, c.Read.Load)
	m.Func("entries_accepted", "Entries appended to the queue.", component.Counter, c.Accepted.Load)
	for i, r := range reasons {
		m.Func("entries_rejected_"+r, "Entries rejected: "+rejectHelp[i], component.Counter, c.rejected[i].Load)
	}
	m.Func("read_bytes", "Bytes read from the source.", component.Counter, c.Bytes.Load)
	m.Func("entries_truncated", "Entries with a payload, source or metadata value cut to the contract's limits.", component.Counter, c.Truncated.Load)
}

var rejectHelp = [numReasons]string{
	"they broke a rule of the contract.",
	"the queue was full and the sender was told to retry.",
	"the input could not read them.",
}

// Figures are the counters for /status.
func (c *Counters) Figures() map[string]int64 {
	f := map[string]int64{
		"records_read":     c.Read.Load(),
		"entries_accepted": c.Accepted.Load(),
		"read_bytes":       c.Bytes.Load(),
	}
	for i, r := range reasons {
		if v := c.rejected[i].Load(); v > 0 {
			f["entries_rejected_"+r] = v
		}
	}
	if v := c.Truncated.Load(); v > 0 {
		f["entries_truncated"] = v
	}
	return f
}

// Builder validates entries and gathers their records for one append. It is
// for one goroutine at a time.
type Builder struct {
	// MaxBytes is the most records gathered for one append
	// (component.Settings.MaxAppendBytes); Full reports reaching it.
	MaxBytes int
	// Filter is the agent's redaction rules (component.Settings.Filter),
	// applied to every entry before its record is written; nil: none.
	Filter component.EntryFilter

	maker protocol.Maker
	stamp protocol.Stamp
	pf    protocol.Fields
	kvs   []protocol.KV       // the metadata of the entry being built
	num   []byte              // the truncated marker's value
	keys  []string            // metadata keys of the entry being built
	seen  map[string]struct{} // the same, once there are many
	one   [1]protocol.Entry   // what the filter is given

	data []byte
	ends []int
	recs [][]byte
}

// New returns a builder for the input called name, gathering up to
// maxBytes for one append and passing entries through filter (nil: none).
func New(name string, maxBytes int, filter component.EntryFilter) *Builder {
	b := &Builder{MaxBytes: maxBytes, Filter: filter}
	if b.MaxBytes <= 0 {
		b.MaxBytes = 1 << 20
	}
	b.stamp.Input = name
	return b
}

// Received sets the time of receipt of the entries added next (formatted
// once for all of them).
func (b *Builder) Received(t time.Time) { b.stamp.Set(t) }

// Add validates f and gathers its record. It reports whether something had
// to be cut to fit, and an error (a *protocol.Error) when the entry broke a
// rule anyway; then nothing was gathered.
func (b *Builder) Add(f *Fields) (truncated bool, err error) {
	if b.stamp.T.IsZero() {
		b.Received(time.Now())
	}
	truncated = b.fields(f)
	e, _, perr := b.maker.Make(&b.pf)
	if perr != nil {
		return truncated, perr
	}
	if b.pf.Timestamp == nil && !f.Time.IsZero() {
		if t := f.Time.UTC(); t.Year() > 0 && t.Year() <= 9999 {
			e.Timestamp, e.HasTimestamp = t, true // written as RFC 3339 in UTC
		}
	}
	entries := b.one[:]
	entries[0] = e
	if b.Filter != nil {
		if entries = b.Filter.Filter(entries); len(entries) == 0 {
			return truncated, nil // dropped by a drop_entry rule, and counted there
		}
	}
	b.data = protocol.AppendRecordStamp(b.data, &entries[0], &b.stamp)
	b.ends = append(b.ends, len(b.data))
	return truncated, nil
}

// fields fits f into the contract's limits as b.pf, for the Maker, and
// reports whether anything was cut. The byte slices share f's memory: the
// Maker and the record writer only read them.
func (b *Builder) fields(f *Fields) bool {
	cut := false
	payload := f.Payload
	if len(payload) == 0 {
		payload = "-"
	}
	origLen := len(payload)
	// Each byte that is not UTF-8 becomes U+FFFD, three bytes: only a
	// payload over a third of the limit can grow past it.
	if len(payload) > protocol.MaxPayloadBytes/3 {
		if len(payload)+2*countInvalid(payload) > protocol.MaxPayloadBytes {
			head := payload[:min(len(payload), protocol.MaxPayloadBytes)]
			payload = cutBytes(payload, protocol.MaxPayloadBytes-2*countInvalid(head))
			cut = true
		}
	}
	source := f.Source
	if source == "" {
		source = "unknown"
	}
	if s, c := cutChars(source, protocol.MaxSourceChars); c {
		source, cut = s, true
	}
	level := f.LogLevel
	if level < 1 || level > 8 {
		level = 7
	}
	b.pf = protocol.Fields{
		Payload:     bytesOf(payload),
		Source:      bytesOf(source),
		PayloadType: bytesOf(f.PayloadType),
		EntryType:   1,
		LogLevel:    level,
		Timestamp:   bytesOf(f.TimeText),
	}
	if len(f.Metadata) == 0 && origLen == len(payload) {
		return cut
	}
	b.kvs = b.kvs[:0]
	b.keys = b.keys[:0]
	clear(b.seen)
	put := func(k, v string) {
		if k == "" || b.repeated(k) {
			return
		}
		b.kvs = append(b.kvs, protocol.KV{Key: bytesOf(k), Value: bytesOf(v)})
	}
	if origLen != len(payload) {
		b.num = strconv.AppendInt(b.num[:0], int64(origLen), 10)
		put(TruncatedKey, stringOf(b.num))
	}
	total := 0
	for _, kv := range f.Metadata {
		k, c1 := cutChars(kv.Key, protocol.MaxMetaValueChars)
		v, c2 := cutChars(kv.Value, protocol.MaxMetaValueChars)
		if total += len(k) + len(v); total > protocol.MaxMetaChars {
			cut = true
			break
		}
		cut = cut || c1 || c2
		put(k, v)
	}
	if len(b.kvs) > 0 {
		b.pf.Metadata = b.kvs
	}
	return cut
}

// bytesOf is s's bytes without a copy, for the Maker, which never writes
// them; nil for "".
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// stringOf is b as a string without a copy, valid while b is not written.
func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// repeated reports whether k is among the metadata keys written so far,
// and notes it: a scan for the usual few keys, a set for many.
func (b *Builder) repeated(k string) bool {
	if len(b.keys) < 16 {
		for _, prev := range b.keys {
			if prev == k {
				return true
			}
		}
		b.keys = append(b.keys, k)
		return false
	}
	if b.seen == nil {
		b.seen = map[string]struct{}{}
	}
	if len(b.seen) == 0 {
		for _, prev := range b.keys {
			b.seen[prev] = struct{}{}
		}
	}
	if _, dup := b.seen[k]; dup {
		return true
	}
	b.seen[k] = struct{}{}
	return false
}

// countInvalid counts the bytes of b that are not part of valid UTF-8.
func countInvalid(b string) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(b[i:])
		if r == utf8.RuneError && size == 1 {
			n++
		}
		i += size
	}
	return n
}

// cutBytes returns the longest prefix of b of at most n bytes that does not
// end inside a character.
func cutBytes(b string, n int) string {
	if len(b) <= n {
		return b
	}
	b = b[:max(n, 1)]
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRuneInString(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// cutChars returns s cut to at most n characters, and whether it was cut.
func cutChars(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos], true
		}
		i++
	}
	return s, false
}

// Len is how many records are gathered.
func (b *Builder) Len() int { return len(b.ends) }

// Full reports whether the gathered records reached MaxBytes.
func (b *Builder) Full() bool { return len(b.data) >= b.MaxBytes }

// Append hands the gathered records to sink as one unit and forgets them
// when it succeeds. Its error is the sink's (queue.ErrFull under the
// reject policy); then the records stay gathered, to retry or Reset.
func (b *Builder) Append(ctx context.Context, sink input.Sink) error {
	if len(b.ends) == 0 {
		return nil
	}
	b.recs = b.recs[:0]
	start := 0
	for _, end := range b.ends {
		b.recs = append(b.recs, b.data[start:end:end])
		start = end
	}
	if err := sink.Append(ctx, b.recs); err != nil {
		return err
	}
	b.Reset()
	return nil
}

// AppendWaiting is Append that, while the queue is full, waits and tries
// again (with backoff up to a second) until ctx ends: the input pauses
// rather than skip. paused is called once per wait.
func (b *Builder) AppendWaiting(ctx context.Context, sink input.Sink, paused func()) error {
	bo := backoff.Backoff{Base: 10 * time.Millisecond, Max: time.Second, Min: time.Millisecond}
	for {
		err := b.Append(ctx, sink)
		if !errors.Is(err, queue.ErrFull) {
			return err
		}
		if paused != nil {
			paused()
		}
		t := time.NewTimer(bo.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Reset forgets the gathered records.
func (b *Builder) Reset() {
	b.data, b.ends = b.data[:0], b.ends[:0]
	if cap(b.data) > 4*b.MaxBytes {
		b.data = nil
	}
}
