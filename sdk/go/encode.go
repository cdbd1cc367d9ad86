package logflux

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits of the Agent API that the SDK checks before sending, so that an
// entry is refused at the Log call rather than silently by the agent.
const (
	maxPayloadBytes    = 1 << 20 // payload, bytes of UTF-8
	maxSourceChars     = 256
	maxMetaValueChars  = 1024
	maxPayloadTypeLen  = 64
	maxBatchEntries    = 100      // the agent's batch limit
	maxLineBytes       = 15 << 20 // well under the agent's default 16 MiB line
	defaultSourceValue = "go-app"
)

// Fixed parts of the lines the SDK writes.
var (
	batchPrefix = []byte(`{"version":"1.0","entries":[`)
	// batchSuffix closes a batch and follows it with a ping: the pong marks
	// the end of the agent's answers to that batch (see sender.go).
	batchSuffix = []byte("]}\n{\"version\":\"1.0\",\"action\":\"ping\"}\n")
	flushLine   = []byte("{\"version\":\"1.0\",\"action\":\"flush\"}\n")
)

const hexDigits = "0123456789abcdef"

// safeASCII[c] is true for the ASCII bytes that need no escaping in a JSON
// string.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// SWAR constants: a byte-wise test of eight bytes at once.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// needsEscape8 reports whether any of the eight bytes in x is non-ASCII, a
// control character, '"' or '\\'. Each test is "has a byte below k":
// (x - k·lsb) &^ x has the high bit set in such a byte (a borrow can only
// add false hits above a true one, so "any" is exact).
func needsEscape8(x uint64) bool {
	ctl := (x - 0x20*lsb) &^ x
	quote := x ^ '"'*lsb
	bslash := x ^ '\\'*lsb
	return (x|ctl|(quote-lsb)&^quote|(bslash-lsb)&^bslash)&msb != 0
}

// appendEscaped appends s escaped for the inside of a JSON string.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Skip plain ASCII eight bytes at a time; a short tail is padded
		// with a plain byte.
		for i+8 <= len(s) && !needsEscape8(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
			i += 8
		}
		if rest := len(s) - i; rest < 8 {
			if rest == 0 {
				break
			}
			pad := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			copy(pad[:], s[i:])
			if !needsEscape8(binary.LittleEndian.Uint64(pad[:])) {
				break // the rest is plain
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendMetaValue appends s as a JSON string cut to the agent's metadata
// value limit of 1024 characters; a cut value ends in "…".
func appendMetaValue(b []byte, s string) []byte {
	if len(s) > maxMetaValueChars {
		s = cutChars(s, maxMetaValueChars)
	}
	return appendString(b, s)
}

// cutChars returns s if it has at most n characters, else its first n-1
// characters followed by "…". An invalid byte counts as one character, as it
// becomes one U+FFFD on the wire.
func cutChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// cutBytes returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendTimestamp appends t as a quoted RFC 3339 UTC timestamp, as
// time.RFC3339Nano formats it. The date and time of day are formatted once
// per second and cached; only the fraction is formatted per call.
func appendTimestamp(b []byte, t time.Time) []byte {
	sec, nsec := t.Unix(), t.Nanosecond()
	p := tsCache.Load()
	if p == nil || p.sec != sec {
		u := t.UTC()
		if y := u.Year(); y < 0 || y > 9999 {
			b = append(b, '"')
			b = u.AppendFormat(b, time.RFC3339Nano)
			return append(b, '"')
		}
		p = &tsPrefix{sec: sec}
		p.n = copy(p.text[:], u.AppendFormat(p.text[:0], "\"2006-01-02T15:04:05"))
		tsCache.Store(p)
	}
	b = append(b, p.text[:p.n]...)
	if nsec != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i, v := 9, nsec; i > 0; i-- {
			frac[i] = byte('0' + v%10)
			v /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z', '"')
}

// tsPrefix is a quoted timestamp up to the seconds, for one Unix second.
type tsPrefix struct {
	sec  int64
	n    int
	text [24]byte
}

var tsCache atomic.Pointer[tsPrefix]

// appendEntry appends e as the Agent API's LogEntry object, without a version
// (optional in a batch, and "1.0" when absent). e must be normalized.
func appendEntry(b []byte, e *Entry) []byte {
	b = append(b, `{"payload":`...)
	b = appendString(b, e.Payload)
	b = append(b, `,"entryType":`...)
	b = strconv.AppendInt(b, int64(e.EntryType), 10)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"logLevel":`...)
	b = strconv.AppendInt(b, int64(e.Level), 10)
	if !e.Timestamp.IsZero() {
		b = append(b, `,"timestamp":`...)
		b = appendTimestamp(b, e.Timestamp)
	}
	if e.PayloadType != "" {
		b = append(b, `,"payloadType":`...)
		b = appendString(b, e.PayloadType)
	}
	if len(e.Metadata) > 0 {
		b = append(b, `,"metadata":{`...)
		// Sorted keys make the bytes reproducible; up to 16 keys are sorted
		// without allocating.
		var arr [16]string
		keys := arr[:0]
		for k := range e.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendMetaValue(b, e.Metadata[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// normalize fills e's defaults and checks it against the Agent API's rules.
// The error wraps ErrInvalidEntry.
func normalize(e *Entry, defaultSource string) error {
	if e.EntryType == 0 {
		e.EntryType = TypeLog
	}
	if e.Level == 0 {
		e.Level = LevelInfo
	}
	if e.Source == "" {
		e.Source = defaultSource
	}
	switch {
	case e.Payload == "":
		return fmt.Errorf("%w: payload is empty", ErrInvalidEntry)
	case len(e.Payload) > maxPayloadBytes:
		return fmt.Errorf("%w: payload is %d bytes, more than 1 MiB", ErrInvalidEntry, len(e.Payload))
	case e.EntryType < TypeLog || e.EntryType > TypeAudit:
		return fmt.Errorf("%w: entry type %d is not 1 to 5", ErrInvalidEntry, e.EntryType)
	case e.Level < LevelEmergency || e.Level > LevelDebug:
		return fmt.Errorf("%w: level %d is not 1 to 8", ErrInvalidEntry, e.Level)
	case utf8.RuneCountInString(e.Source) > maxSourceChars:
		return fmt.Errorf("%w: source is longer than 256 characters", ErrInvalidEntry)
	case e.PayloadType != "" && !validPayloadType(e.PayloadType):
		return fmt.Errorf("%w: payload type %q is not 1-64 letters, digits, '_', '-' or '.'", ErrInvalidEntry, e.PayloadType)
	}
	return nil
}

func validPayloadType(s string) bool {
	if len(s) == 0 || len(s) > maxPayloadTypeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
