package protocol

import (
	"fmt"
	"unicode/utf8"
)

// Fields are one entry's values as an input other than the Agent API read
// them (a file line, a syslog message): raw bytes, not JSON.
type Fields struct {
	Payload     []byte
	Source      []byte
	PayloadType []byte // empty: "generic"
	EntryType   int
	LogLevel    int
	// Timestamp is an RFC 3339 date-time as the source wrote it; nil, or
	// text that is not one, leaves the time of receipt.
	Timestamp []byte
	Metadata  []KV
}

// Maker turns Fields into entries under the rules the Decoder applies to
// the wire format, so that every input produces what the Agent API would
// accept. A Maker is for one goroutine at a time.
type Maker struct {
	minutes minuteCache
	buf     []byte // valid UTF-8 copies of fields that were not
}

// Make validates f and returns it as an entry, to be written with
// AppendRecordStamp. Bytes that are not UTF-8 are replaced by U+FFFD (the
// count is returned), and a timestamp that cannot be read is left out
// (the time of receipt is used); any other broken rule is an *Error with
// code invalid_entry naming every field. The entry points into f and the
// Maker's memory, valid until the next Make.
func (m *Maker) Make(f *Fields) (e Entry, replaced int, err *Error) {
	m.buf = m.buf[:0]
	var errs []FieldError
	add := func(field, msg string) { errs = append(errs, FieldError{Index: -1, Field: field, Message: msg}) }
	// A string that is not all plain ASCII is marked as possibly needing
	// escapes: AppendRecordStamp then escapes it on output, which needs
	// valid UTF-8. The others (most) are copied as they are.
	var n int
	var esc bool
	e.Payload, n, esc = m.text(f.Payload)
	replaced += n
	if esc {
		e.Unescaped |= escPayload
	}
	switch {
	case len(e.Payload) == 0:
		add("payload", "must not be empty")
	case len(e.Payload) > MaxPayloadBytes:
		add("payload", fmt.Sprintf("must be at most %d bytes; it has %d", MaxPayloadBytes, len(e.Payload)))
	}
	e.Source, n, esc = m.text(f.Source)
	replaced += n
	if esc {
		e.Unescaped |= escSource
	}
	switch {
	case len(e.Source) == 0:
		add("source", "must not be empty")
	case len(e.Source) > MaxSourceChars && utf8.RuneCount(e.Source) > MaxSourceChars:
		add("source", fmt.Sprintf("must be at most %d characters", MaxSourceChars))
	}
	if len(f.PayloadType) > 0 {
		if !validPayloadType(f.PayloadType) {
			add("payloadType", "must be 1 to 64 letters, digits, '_', '-' or '.'")
		}
		e.PayloadType = f.PayloadType // letters, digits and "_-.": nothing to escape
	}
	if f.EntryType < 1 || f.EntryType > 5 {
		add("entryType", "must be an integer from 1 to 5")
	}
	if f.LogLevel < 1 || f.LogLevel > 8 {
		add("logLevel", "must be an integer from 1 to 8")
	}
	e.EntryType, e.LogLevel = f.EntryType, f.LogLevel
	if f.Timestamp != nil {
		if t, ok := m.minutes.parse(f.Timestamp); ok {
			e.Timestamp, e.HasTimestamp = t, true
			if canonicalUTC(f.Timestamp) {
				e.TimestampText = f.Timestamp
			}
		}
	}
	if len(f.Metadata) > 0 {
		total := 0
		for i := range f.Metadata {
			kv := &f.Metadata[i]
			k, nk, escK := m.text(kv.Key)
			v, nv, escV := m.text(kv.Value)
			replaced += nk + nv
			kv.Key, kv.Value = k, v
			if escK || escV {
				e.Unescaped |= escMetadata
			}
			if len(k) == 0 {
				add("metadata", "keys must not be empty")
			}
			kc, vc := len(k), len(v) // plain ASCII: a byte a character
			if escK {
				kc = utf8.RuneCount(k)
			}
			if escV {
				vc = utf8.RuneCount(v)
			}
			if vc > MaxMetaValueChars {
				add("metadata."+string(k), fmt.Sprintf("must be at most %d characters", MaxMetaValueChars))
			}
			total += kc + vc
			for _, prev := range f.Metadata[:i] {
				if string(prev.Key) == string(k) {
					add("metadata."+string(k), "is given twice")
				}
			}
		}
		if total > MaxMetaChars {
			add("metadata", fmt.Sprintf("keys and values must be at most %d characters in all", MaxMetaChars))
		}
		e.Metadata = f.Metadata
	}
	if errs != nil {
		return Entry{}, replaced, &Error{Code: CodeInvalidEntry, Message: errs[0].Field + " " + errs[0].Message, Errors: errs, Refused: 1}
	}
	return e, replaced, nil
}

// text returns b as an entry's string, and whether it may need escapes on
// output: b itself, not to be escaped, when it is plain ASCII (no '"',
// '\\' or control character), else what valid makes of it.
func (m *Maker) text(b []byte) (out []byte, replaced int, esc bool) {
	if plain(b) {
		return b, 0, false
	}
	out, replaced = m.valid(b)
	return out, replaced, true
}

// valid returns b when it is UTF-8, or a copy in m.buf with every byte that
// is not replaced by U+FFFD, and how many were replaced.
func (m *Maker) valid(b []byte) ([]byte, int) {
	if utf8.Valid(b) {
		return b, 0
	}
	// m.buf may grow and move; earlier results keep the old array, which
	// stays valid because it is never written again in this Make.
	start := len(m.buf)
	n := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			m.buf = append(m.buf, "\uFFFD"...)
			n++
		} else {
			m.buf = append(m.buf, b[i:i+size]...)
		}
		i += size
	}
	out := m.buf[start:len(m.buf):len(m.buf)]
	// Start the next copy in a fresh array so that out is never written over.
	m.buf = m.buf[len(m.buf):]
	return out, n
}

// LevelByName returns the contract's logLevel (1 to 8) for a level name as
// programs write it ("error", "WARN", "Informational", "fatal", "7"), or 0.
func LevelByName(name []byte) int {
	if len(name) == 1 && name[0] >= '1' && name[0] <= '8' {
		return int(name[0] - '0')
	}
	if len(name) > 13 {
		return 0
	}
	var low [13]byte
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch string(low[:len(name)]) {
	case "emerg", "emergency", "panic":
		return 1
	case "alert":
		return 2
	case "crit", "critical", "fatal":
		return 3
	case "err", "error", "eror":
		return 4
	case "warn", "warning":
		return 5
	case "notice":
		return 6
	case "info", "information", "informational":
		return 7
	case "debug", "trace", "dbug":
		return 8
	}
	return 0
}
