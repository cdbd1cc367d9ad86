package logflux

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"strconv"
)

// slog levels for the Agent API levels that slog has no name for. The
// mapping from slog to the Agent API (see LevelFromSlog) is:
//
//	slog level            Agent API level
//	below Info (Debug)    8 Debug
//	Info   (0)            7 Info
//	SlogLevelNotice (2)   6 Notice
//	Warn   (4)            5 Warning
//	Error  (8)            4 Error
//	SlogLevelCritical (12)  3 Critical
//	SlogLevelAlert (16)     2 Alert
//	SlogLevelEmergency (20) 1 Emergency
//
// A level between two rows maps to the row above it (Info+1 is Info).
const (
	SlogLevelNotice    = slog.Level(2)
	SlogLevelCritical  = slog.Level(12)
	SlogLevelAlert     = slog.Level(16)
	SlogLevelEmergency = slog.Level(20)
)

// LevelFromSlog maps a slog level to an Agent API level; see SlogLevelNotice
// for the table.
func LevelFromSlog(l slog.Level) Level {
	switch {
	case l < slog.LevelInfo:
		return LevelDebug
	case l < SlogLevelNotice:
		return LevelInfo
	case l < slog.LevelWarn:
		return LevelNotice
	case l < slog.LevelError:
		return LevelWarning
	case l < SlogLevelCritical:
		return LevelError
	case l < SlogLevelAlert:
		return LevelCritical
	case l < SlogLevelEmergency:
		return LevelAlert
	}
	return LevelEmergency
}

// Slog returns the slog level that LevelFromSlog maps to l.
func (l Level) Slog() slog.Level {
	switch l {
	case LevelDebug:
		return slog.LevelDebug
	case LevelInfo:
		return slog.LevelInfo
	case LevelNotice:
		return SlogLevelNotice
	case LevelWarning:
		return slog.LevelWarn
	case LevelError:
		return slog.LevelError
	case LevelCritical:
		return SlogLevelCritical
	case LevelAlert:
		return SlogLevelAlert
	}
	return SlogLevelEmergency
}

// HandlerOptions configures a Handler. A nil *HandlerOptions means the
// defaults.
type HandlerOptions struct {
	// Level is the lowest level handled. Default slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds the caller's "file:line" as the metadata key "source".
	AddSource bool
	// Source is the entry source for this handler's records. Default
	// Config.Source.
	Source string
}

// EmptyMessage is the payload of a record logged with an empty message,
// since the agent requires a payload.
const EmptyMessage = "(empty)"

// Handler is a slog.Handler that sends each record to the agent as a log
// entry (TypeLog):
//
//   - the message is the payload (cut to 1 MiB, EmptyMessage if empty);
//   - the level maps as LevelFromSlog says;
//   - the record's time is the timestamp (a zero time is left out, and the
//     agent uses the time it receives the entry);
//   - attributes become metadata, their values formatted as strings
//     (errors by Error, TextMarshalers by MarshalText, other values with
//     fmt's %+v), and groups become dotted keys: "req.method";
//   - with AddSource, "source" is "file:line".
//
// Handle queues the entry like Client.Log and never waits on the network;
// its error (ErrQueueFull, ErrClosed) is counted in the client's Stats.
type Handler struct {
	c         *Client
	level     slog.Leveler
	addSource bool
	source    []byte   // JSON string
	attrs     []byte   // metadata members from WithAttrs, comma-separated
	members   []member // where each member of attrs is
	prefix    string   // group prefix, such as "req.", escaped for JSON
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a Handler that logs through c.
func NewHandler(c *Client, opts *HandlerOptions) *Handler {
	if opts == nil {
		opts = &HandlerOptions{}
	}
	src := opts.Source
	if src == "" {
		src = c.cfg.Source
	}
	h := &Handler{c: c, level: opts.Level, addSource: opts.AddSource}
	h.source = appendString(nil, cutChars(src, maxSourceChars))
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	return h
}

// Enabled reports whether l is at or above the handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs returns a handler whose entries also carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	var ms memberSet
	b := make([]byte, 0, len(h.attrs)+64*len(attrs))
	b = append(b, '{') // so appendSep sees the start of the object
	b = append(b, h.attrs...)
	for _, m := range h.members {
		ms.add(member{m.start + 1, m.keyEnd + 1, m.end + 1})
	}
	for _, a := range attrs {
		b = appendAttr(b, h.prefix, a, &ms)
	}
	b = dedupe(b, 1, &ms)
	h2.attrs = b[1:]
	h2.members = make([]member, ms.n)
	for i := range ms.n {
		m := ms.at(i)
		h2.members[i] = member{m.start - 1, m.keyEnd - 1, m.end - 1}
	}
	return &h2
}

// WithGroup returns a handler whose later attributes are in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + string(appendEscaped(nil, name)) + "."
	return &h2
}

// Handle sends r to the agent.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	c := h.c
	if c.closing.Load() {
		c.st.drop(dropClosed, 1)
		return ErrClosed
	}
	bp := getBuf()
	b := (*bp)[:0]
	msg := r.Message
	if msg == "" {
		msg = EmptyMessage
	} else if len(msg) > maxPayloadBytes {
		msg = cutBytes(msg, maxPayloadBytes)
	}
	b = append(b, `{"payload":`...)
	b = appendString(b, msg)
	b = append(b, `,"entryType":1,"source":`...)
	b = append(b, h.source...)
	b = append(b, `,"logLevel":`...)
	b = append(b, byte('0'+LevelFromSlog(r.Level)))
	if !r.Time.IsZero() {
		b = append(b, `,"timestamp":`...)
		b = appendTimestamp(b, r.Time)
	}
	mark := len(b)
	b = append(b, `,"metadata":{`...)
	start := len(b)
	var ms memberSet
	b = append(b, h.attrs...)
	for _, m := range h.members {
		ms.add(member{m.start + int32(start), m.keyEnd + int32(start), m.end + int32(start)})
	}
	if r.NumAttrs() > 0 {
		r.Attrs(func(a slog.Attr) bool {
			b = appendAttr(b, h.prefix, a, &ms)
			return true
		})
	}
	if h.addSource && r.PC != 0 {
		if src := r.Source(); src != nil && src.File != "" {
			b = appendSep(b)
			m := member{start: int32(len(b))}
			b = append(b, `"source"`...)
			m.keyEnd = int32(len(b))
			b = append(b, ':', '"')
			b = appendEscaped(b, src.File)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(src.Line), 10)
			b = append(b, '"')
			m.end = int32(len(b))
			ms.add(m)
		}
	}
	b = dedupe(b, start, &ms)
	if len(b) == start {
		b = b[:mark]
	} else {
		b = append(b, '}')
	}
	b = append(b, '}')
	*bp = b
	err := c.enqueue(b, nil)
	putBuf(bp)
	return err
}

// appendSep appends the comma between metadata members.
func appendSep(b []byte) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return b
}

// member locates one metadata member `"key":"value"` in a buffer:
// b[start:keyEnd] is the quoted key, b[start:end] the whole member.
type member struct{ start, keyEnd, end int32 }

// memberSet lists the members of one metadata object, without allocating
// for the first 24.
type memberSet struct {
	n     int
	fixed [24]member
	more  []member
}

func (ms *memberSet) add(m member) {
	if ms.n < len(ms.fixed) {
		ms.fixed[ms.n] = m
	} else {
		ms.more = append(ms.more, m)
	}
	ms.n++
}

func (ms *memberSet) at(i int) member {
	if i < len(ms.fixed) {
		return ms.fixed[i]
	}
	return ms.more[i-len(ms.fixed)]
}

func (ms *memberSet) set(i int, m member) {
	if i < len(ms.fixed) {
		ms.fixed[i] = m
	} else {
		ms.more[i-len(ms.fixed)] = m
	}
}

// dedupe removes every member of the metadata object starting at b[start:]
// whose key appears again later: the agent refuses an object with a
// duplicate key (invalid_json, which would refuse the whole batch), and
// slog allows them. The last value wins, as in encoding/json. ms is updated
// to the members kept, at their new places.
func dedupe(b []byte, start int, ms *memberSet) []byte {
	if ms.n < 2 {
		return b
	}
	var deadBits uint64
	var deadMap map[int]bool // beyond 64 members
	dead := func(i int) bool {
		if deadMap != nil {
			return deadMap[i]
		}
		return deadBits&(1<<i) != 0
	}
	found := false
	if ms.n <= len(ms.fixed) {
		list := ms.fixed[:ms.n]
		// Most records have no duplicate: a 64-bit fingerprint of the
		// keys (length, first and last byte) usually shows it at once.
		var seen uint64
		collide := false
		for _, m := range list {
			k := b[m.start:m.keyEnd] // quoted, so at least 2 bytes
			bit := uint64(1) << ((uint(len(k))*31 + uint(k[1])*7 + uint(k[len(k)-2])) & 63)
			if seen&bit != 0 {
				collide = true
				break
			}
			seen |= bit
		}
		if !collide {
			return b
		}
		for i, mi := range list[:len(list)-1] {
			ki := b[mi.start:mi.keyEnd]
			for _, mj := range list[i+1:] {
				if mj.keyEnd-mj.start == mi.keyEnd-mi.start && string(ki) == string(b[mj.start:mj.keyEnd]) {
					deadBits |= 1 << i
					found = true
					break
				}
			}
		}
	} else {
		key := func(m member) string { return string(b[m.start:m.keyEnd]) }
		last := make(map[string]int, ms.n)
		for i := range ms.n {
			last[key(ms.at(i))] = i
		}
		deadMap = make(map[int]bool)
		for i := range ms.n {
			if last[key(ms.at(i))] != i {
				deadMap[i] = true
				found = true
			}
		}
	}
	if !found {
		return b
	}
	w, kept := start, 0
	for i := range ms.n {
		if dead(i) {
			continue
		}
		m := ms.at(i)
		if kept > 0 {
			b[w] = ','
			w++
		}
		n := int32(copy(b[w:], b[m.start:m.end]))
		ms.set(kept, member{int32(w), int32(w) + m.keyEnd - m.start, int32(w) + n})
		w += int(n)
		kept++
	}
	ms.n = kept
	if kept <= len(ms.fixed) {
		ms.more = ms.more[:0]
	} else {
		ms.more = ms.more[:kept-len(ms.fixed)]
	}
	return b[:w]
}

// appendAttr appends a as metadata members: key prefix+a.Key, the value as
// a string; a group's members get the prefix "<prefix><key>.". prefix is
// already escaped for JSON. Each member is added to ms.
func appendAttr(b []byte, prefix string, a slog.Attr, ms *memberSet) []byte {
	kind := a.Value.Kind()
	if kind == slog.KindLogValuer {
		a.Value = a.Value.Resolve()
		kind = a.Value.Kind()
	}
	if a.Key == "" && kind == slog.KindAny && a.Value.Any() == nil {
		return b // the empty Attr
	}
	if kind == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return b
		}
		if a.Key != "" {
			prefix = prefix + string(appendEscaped(nil, a.Key)) + "."
		}
		for _, ga := range attrs {
			b = appendAttr(b, prefix, ga, ms)
		}
		return b
	}
	b = appendSep(b)
	m := member{start: int32(len(b))}
	b = append(b, '"')
	b = append(b, prefix...)
	b = appendEscaped(b, a.Key)
	b = append(b, '"')
	m.keyEnd = int32(len(b))
	b = append(b, ':')
	b = appendValue(b, a.Value)
	m.end = int32(len(b))
	ms.add(m)
	return b
}

// appendValue appends v as a JSON string.
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendMetaValue(b, v.String())
	case slog.KindInt64:
		b = append(b, '"')
		b = strconv.AppendInt(b, v.Int64(), 10)
		return append(b, '"')
	case slog.KindUint64:
		b = append(b, '"')
		b = strconv.AppendUint(b, v.Uint64(), 10)
		return append(b, '"')
	case slog.KindFloat64:
		b = append(b, '"')
		b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
		return append(b, '"')
	case slog.KindBool:
		b = append(b, '"')
		b = strconv.AppendBool(b, v.Bool())
		return append(b, '"')
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		return appendTimestamp(b, v.Time())
	}
	switch x := v.Any().(type) {
	case error:
		return appendMetaValue(b, x.Error())
	case encoding.TextMarshaler:
		t, err := x.MarshalText()
		if err != nil {
			return appendMetaValue(b, "!ERROR:"+err.Error())
		}
		return appendMetaValue(b, string(t))
	case []byte:
		return appendMetaValue(b, string(x))
	case nil:
		return append(b, `"<nil>"`...)
	}
	return appendMetaValue(b, fmt.Sprintf("%+v", v.Any()))
}
