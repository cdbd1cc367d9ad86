package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Decoder reads messages one line at a time with a hand-written scanner: no
// reflection, no per-entry allocation once its buffers have grown. It is
// strict where encoding/json is lenient: invalid UTF-8, lone surrogates and
// duplicate keys in the objects the agent reads are invalid JSON, integers
// must be written as integers, and nesting is limited to MaxDepth.
//
// A Decoder is not safe for concurrent use; each connection has its own.
type Decoder struct {
	// MaxBatch is the most entries a batch may hold (DefaultMaxBatch if 0).
	MaxBatch int

	line  []byte
	pos   int
	arena []byte // unescaped strings; capacity >= len(line), so it never moves

	bad  bool // a JSON syntax error was found
	jmsg string
	jpos int

	msg     Message
	entries []Entry
	kvs     []KV
	errs    []FieldError // batch entry errors
	topErrs []FieldError // errors of the top-level object read as an entry
	err     Error

	metaSet   map[string]struct{} // metadata keys seen, for objects with many keys
	metaStart int                 // the kvs index that metaSet's object starts at

	// escaped is set by str when the string it read had escapes: only
	// such a string can hold characters that need escaping on output.
	escaped bool
	// ascii is set by str when the string it read is all ASCII, so that
	// its length in characters is its length in bytes.
	ascii bool

	noFast bool // tests: read every object with the full scanner

	// mask has a bit for each byte of the line that ends a plain run of
	// string bytes (see specialMask), when masked is set: the fast path
	// then finds where a string ends from it.
	mask   []uint64
	masked bool

	minutes minuteCache // the last timestamp's minute
}

// Decode reads one line (without its newline). It returns:
//   - nil, nil for an empty line, which the contract says to ignore;
//   - msg, nil for a valid message;
//   - msg, err for a batch whose valid entries are in msg and whose invalid
//     ones are listed in err (code invalid_entry);
//   - nil, err for a message refused as a whole.
//
// Both results are valid until the next call.
func (d *Decoder) Decode(line []byte) (*Message, *Error) {
	// Not a defer: decode has too many returns for an open-coded one, and
	// the slow kind showed in the profile.
	m, err := d.decode(line)
	d.release()
	return m, err
}

func (d *Decoder) decode(line []byte) (*Message, *Error) {
	d.line, d.pos, d.bad = line, 0, false
	if cap(d.arena) < len(line) {
		d.arena = make([]byte, 0, len(line))
	}
	if n := (len(line) + 63) >> 6; !d.noFast {
		if cap(d.mask) < n {
			d.mask = make([]uint64, n)
		}
		d.mask = d.mask[:n]
		d.masked = specialMask(line, d.mask)
	}
	d.arena = d.arena[:0]
	d.entries = d.entries[:0]
	d.kvs = d.kvs[:0]
	d.errs = d.errs[:0]
	d.topErrs = d.topErrs[:0]

	d.skipWS()
	if d.pos == len(line) {
		return nil, nil
	}
	if line[d.pos] != '{' {
		if d.skipValue(0) && d.end() {
			return nil, d.fail(CodeInvalidMessage, "a message must be a JSON object")
		}
		return nil, d.jsonError()
	}
	if end := d.fastEntry(line, d.pos); end >= 0 {
		d.pos = end
		if !d.end() {
			return nil, d.jsonError()
		}
		m := &d.msg
		*m = Message{Kind: KindEntry, Total: 1, Entries: d.entries}
		return m, nil
	}
	var top topFields
	entry := d.object(&top, -1, &d.topErrs)
	if d.bad || !d.end() {
		return nil, d.jsonError()
	}

	m := &d.msg
	*m = Message{}
	maxBatch := d.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	switch {
	case top.action != actionAbsent:
		if e := top.versionError(); e != nil {
			return nil, d.refuse(0, e)
		}
		switch top.action {
		case actionPing:
			m.Kind = KindPing
		case actionFlush:
			m.Kind = KindFlush
		case actionAuthenticate:
			m.Kind = KindAuthenticate
			m.Secret = top.secret
		case actionNotString:
			return nil, d.refuse(0, d.fail(CodeInvalidMessage, "action must be a string"))
		default:
			return nil, d.refuse(0, d.fail(CodeUnknownAction, fmt.Sprintf("unknown action %q; known actions are ping, authenticate and flush", top.actionName)))
		}
		return m, nil
	case top.entries != entriesAbsent:
		if e := top.versionError(); e != nil {
			return nil, d.refuse(max(top.total, 1), e)
		}
		if top.entries == entriesNotArray {
			return nil, d.fail(CodeInvalidMessage, "entries must be an array of entry objects")
		}
		if top.total == 0 {
			return nil, d.fail(CodeInvalidMessage, "entries must not be empty")
		}
		if top.total > maxBatch {
			return nil, d.refuse(top.total, d.fail(CodeBatchTooLarge, fmt.Sprintf("a batch holds at most %d entries; this one has %d", maxBatch, top.total)))
		}
		m.Kind, m.Total, m.Entries = KindBatch, top.total, d.entries
		if len(d.errs) > 0 {
			return m, d.entryError(d.errs, top.total)
		}
		return m, nil
	default:
		if e := top.versionError(); e != nil {
			return nil, d.refuse(1, e)
		}
		if len(d.topErrs) > 0 {
			return nil, d.entryError(d.topErrs, 1)
		}
		d.entries = append(d.entries, entry)
		m.Kind, m.Total, m.Entries = KindEntry, 1, d.entries
		return m, nil
	}
}

// release drops buffers that a huge line made huge.
func (d *Decoder) release() {
	if cap(d.arena) > 4<<20 {
		d.arena = nil
	}
	if cap(d.mask) > 4<<20>>6 {
		d.mask = nil
	}
	d.masked = false
	d.line = nil
	d.metaSet = nil
}

func (d *Decoder) fail(code, msg string) *Error {
	d.err = Error{Code: code, Message: msg, Refused: 1}
	return &d.err
}

// refuse is fail for a message that covers n entries.
func (d *Decoder) refuse(n int, e *Error) *Error {
	e.Refused = n
	return e
}

func (d *Decoder) jsonError() *Error {
	msg := d.jmsg
	if !d.bad {
		msg = "unexpected data after the JSON object"
		d.jpos = d.pos
	}
	return d.fail(CodeInvalidJSON, fmt.Sprintf("invalid JSON at byte %d: %s", d.jpos, msg))
}

func (d *Decoder) entryError(errs []FieldError, total int) *Error {
	first := errs[0]
	msg := first.Field + " " + first.Message
	if first.Field == "" {
		msg = "entry " + first.Message
	}
	if first.Index >= 0 {
		msg = "entry " + strconv.Itoa(first.Index) + ": " + msg
	}
	if n := len(errs) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more %s)", n, plural(n, "problem", "problems"))
	}
	if first.Index >= 0 {
		bad := 0
		last := -1
		for _, e := range errs {
			if e.Index != last {
				bad++
				last = e.Index
			}
		}
		msg += fmt.Sprintf("; %d of %d entries rejected, the others accepted", bad, total)
	}
	d.err = Error{Code: CodeInvalidEntry, Message: msg, Errors: errs, Refused: 1}
	return &d.err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// syntax records a JSON syntax error at the current position.
func (d *Decoder) syntax(msg string) bool {
	if !d.bad {
		d.bad, d.jmsg, d.jpos = true, msg, d.pos
	}
	return false
}

func (d *Decoder) skipWS() {
	if d.pos < len(d.line) && d.line[d.pos] > ' ' {
		return // the usual case: no white space at all
	}
	for d.pos < len(d.line) {
		switch d.line[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (d *Decoder) end() bool {
	d.skipWS()
	return d.pos == len(d.line)
}

// expect consumes c after optional white space.
func (d *Decoder) expect(c byte) bool {
	d.skipWS()
	if d.pos < len(d.line) && d.line[d.pos] == c {
		d.pos++
		return true
	}
	if d.pos == len(d.line) {
		return d.syntax("unexpected end of line")
	}
	return d.syntax(fmt.Sprintf("expected %q, found %q", c, d.line[d.pos]))
}

// next reads what follows a member or an element: a comma (true: another
// one follows) or the closing byte (false; a syntax error sets d.bad).
func (d *Decoder) next(close byte) bool {
	d.skipWS()
	if d.pos < len(d.line) && d.line[d.pos] == ',' {
		d.pos++
		return true
	}
	d.expect(close)
	return false
}

// Fields the top-level object may carry besides entry fields.
type topFields struct {
	version    versionState
	action     actionState
	actionName string
	secret     []byte
	entries    entriesState
	total      int
	verStr     []byte
}

type versionState uint8

const (
	versionAbsent versionState = iota
	versionOK
	versionBad // not "1.0"
)

type actionState uint8

const (
	actionAbsent actionState = iota
	actionPing
	actionFlush
	actionAuthenticate
	actionUnknown
	actionNotString
)

type entriesState uint8

const (
	entriesAbsent entriesState = iota
	entriesArray
	entriesNotArray
)

func (t *topFields) versionError() *Error {
	if t.version != versionBad {
		return nil
	}
	if t.verStr != nil {
		return &Error{Code: CodeUnsupportedVersion, Message: fmt.Sprintf("unsupported version %q; this agent speaks version %q", t.verStr, Version)}
	}
	return &Error{Code: CodeUnsupportedVersion, Message: fmt.Sprintf("version must be the string %q", Version)}
}

// Bits of the fields seen in one object, for duplicate and required checks.
const (
	fVersion = 1 << iota
	fPayload
	fEntryType
	fSource
	fLogLevel
	fTimestamp
	fPayloadType
	fMetadata
	fAction
	fSecret
	fEntries
)

// object reads an object at the current position as an entry. With top set,
// it is the message itself and may also carry action, shared_secret and
// entries; otherwise it is entry number index of a batch. Problems with the
// entry's fields go to errs; syntax errors set d.bad.
func (d *Decoder) object(top *topFields, index int, errs *[]FieldError) Entry {
	var e Entry
	d.pos++ // '{'
	var seen uint32
	nerr := len(*errs)
	addErr := func(field, msg string) {
		*errs = append(*errs, FieldError{Index: index, Field: field, Message: msg})
	}
	d.skipWS()
	if d.pos < len(d.line) && d.line[d.pos] == '}' {
		d.pos++
	} else {
		for {
			d.skipWS()
			if d.pos >= len(d.line) || d.line[d.pos] != '"' {
				d.syntax("expected a string key")
				return e
			}
			bit, n := knownKey(d.line, d.pos)
			var key []byte
			if n > 0 {
				key = d.line[d.pos+1 : d.pos+n-1]
				d.pos += n
			} else {
				var ok bool
				if key, ok = d.str(); !ok {
					return e
				}
				bit = fieldBit(key)
			}
			if d.pos < len(d.line) && d.line[d.pos] == ':' {
				d.pos++ // the usual case, without a call
			} else if !d.expect(':') {
				return e
			}
			d.skipWS()
			if d.pos >= len(d.line) {
				d.syntax("unexpected end of line")
				return e
			}
			if bit != 0 {
				if seen&bit != 0 {
					d.syntax(fmt.Sprintf("duplicate key %q", key))
					return e
				}
				seen |= bit
			}
			null := d.line[d.pos] == 'n'
			switch {
			case bit == 0 || (top == nil && bit >= fAction):
				d.skipValue(1)
			case null:
				d.pos += 4
				if !d.literal("null") {
					return e
				}
				// null is absent; a required field given as null is
				// reported missing below.
			case bit == fVersion:
				v, isStr := d.stringField()
				ok := isStr && string(v) == Version
				if top != nil {
					if !ok {
						top.version = versionBad
						if isStr {
							top.verStr = v
						}
					}
				} else if !ok {
					addErr("version", fmt.Sprintf("must be %q", Version))
				}
			case bit == fPayload:
				v, isStr := d.stringField()
				switch {
				case !isStr:
					addErr("payload", "must be a string")
				case len(v) == 0:
					addErr("payload", "must not be empty")
				case len(v) > MaxPayloadBytes:
					addErr("payload", fmt.Sprintf("must be at most %d bytes; it has %d", MaxPayloadBytes, len(v)))
				default:
					e.Payload = v
					if d.escaped {
						e.Unescaped |= escPayload
					}
				}
			case bit == fSource:
				v, isStr := d.stringField()
				switch {
				case !isStr:
					addErr("source", "must be a string")
				case len(v) == 0:
					addErr("source", "must not be empty")
				case len(v) > MaxSourceChars && utf8.RuneCount(v) > MaxSourceChars:
					addErr("source", fmt.Sprintf("must be at most %d characters", MaxSourceChars))
				default:
					e.Source = v
					if d.escaped {
						e.Unescaped |= escSource
					}
				}
			case bit == fEntryType:
				e.EntryType = d.intIn("entryType", 5, addErr)
			case bit == fLogLevel:
				e.LogLevel = d.intIn("logLevel", 8, addErr)
			case bit == fTimestamp:
				v, isStr := d.stringField()
				t, ok := d.minutes.parse(v)
				if !isStr || !ok {
					addErr("timestamp", "must be an RFC 3339 date-time such as 2025-08-31T10:30:00Z")
				} else {
					e.Timestamp, e.HasTimestamp = t, true
					if canonicalUTC(v) {
						e.TimestampText = v
					}
				}
			case bit == fPayloadType:
				v, isStr := d.stringField()
				if !isStr || !validPayloadType(v) {
					addErr("payloadType", "must be 1 to 64 letters, digits, '_', '-' or '.'")
				} else {
					e.PayloadType = v
					if d.escaped {
						e.Unescaped |= escPayloadType
					}
				}
			case bit == fMetadata:
				d.metadata(&e, addErr)
			case bit == fAction:
				v, isStr := d.stringField()
				switch {
				case !isStr:
					top.action = actionNotString
				case string(v) == "ping":
					top.action = actionPing
				case string(v) == "flush":
					top.action = actionFlush
				case string(v) == "authenticate":
					top.action = actionAuthenticate
				default:
					top.action, top.actionName = actionUnknown, string(v)
				}
			case bit == fSecret:
				v, isStr := d.stringField()
				if isStr {
					top.secret = v
				}
			case bit == fEntries:
				d.entriesField(top)
			}
			if d.bad {
				return e
			}
			if d.pos < len(d.line) && d.line[d.pos] == ',' {
				d.pos++ // the usual case, without a call
				continue
			}
			if d.next('}') {
				continue
			}
			if d.bad {
				return e
			}
			break
		}
	}
	// Required fields (a key given as null counts as missing).
	if e.Payload == nil && !hasErrFor(*errs, nerr, "payload") {
		addErr("payload", "is required")
	}
	if e.EntryType == 0 && !hasErrFor(*errs, nerr, "entryType") {
		addErr("entryType", "is required (an integer from 1 to 5)")
	}
	if e.Source == nil && !hasErrFor(*errs, nerr, "source") {
		addErr("source", "is required")
	}
	if e.LogLevel == 0 && !hasErrFor(*errs, nerr, "logLevel") {
		addErr("logLevel", "is required (an integer from 1 to 8)")
	}
	return e
}

// Known keys as the eight bytes after their opening quote, little-endian.
var (
	kwPayload  = word(`payload"`)
	kwVersion  = word(`version"`)
	kwEntries  = word(`entries"`)
	kwSource   = word(`source"`) // seven bytes: compare under mask7
	kwAction   = word(`action"`)
	kwLogLevel = word(`logLevel`)
	kwMetadata = word(`metadata`)
	kwEntryTyp = word(`entryTyp`)
	kwTimestam = word(`timestam`)
	kwPayloadT = word(`payloadT`)
)

const mask7 = 1<<56 - 1

func word(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.LittleEndian.Uint64(b[:])
}

// knownKey recognises the usual keys, written plainly, at line[pos] (a
// '"') from one or two loads, without scanning them as strings. It returns
// the key's bit and the bytes of the key with its quotes, or n == 0 when
// the key is something else (or escaped), which str then reads.
func knownKey(line []byte, pos int) (bit uint32, n int) {
	if pos+13 > len(line) {
		return 0, 0
	}
	w := binary.LittleEndian.Uint64(line[pos+1:])
	switch w {
	case kwPayload:
		return fPayload, 9
	case kwVersion:
		return fVersion, 9
	case kwEntries:
		return fEntries, 9
	case kwLogLevel:
		if line[pos+9] == '"' {
			return fLogLevel, 10
		}
	case kwMetadata:
		if line[pos+9] == '"' {
			return fMetadata, 10
		}
	case kwEntryTyp:
		if line[pos+9] == 'e' && line[pos+10] == '"' {
			return fEntryType, 11
		}
	case kwTimestam:
		if line[pos+9] == 'p' && line[pos+10] == '"' {
			return fTimestamp, 11
		}
	case kwPayloadT:
		if string(line[pos+9:pos+13]) == `ype"` {
			return fPayloadType, 13
		}
	}
	switch w & mask7 {
	case kwSource:
		return fSource, 8
	case kwAction:
		return fAction, 8
	}
	return 0, 0
}

// fieldBit returns the bit of a known key, 0 for any other. A switch on the
// length first, then comparisons with constants, which the compiler turns
// into a load or two each (a switch on the string would call a comparison
// function at every step of a binary search).
func fieldBit(key []byte) uint32 {
	switch len(key) {
	case 6:
		switch string(key) {
		case "source":
			return fSource
		case "action":
			return fAction
		}
	case 7:
		switch string(key) {
		case "payload":
			return fPayload
		case "version":
			return fVersion
		case "entries":
			return fEntries
		}
	case 8:
		switch string(key) {
		case "logLevel":
			return fLogLevel
		case "metadata":
			return fMetadata
		}
	case 9:
		switch string(key) {
		case "entryType":
			return fEntryType
		case "timestamp":
			return fTimestamp
		}
	case 11:
		if string(key) == "payloadType" {
			return fPayloadType
		}
	case 13:
		if string(key) == "shared_secret" {
			return fSecret
		}
	}
	return 0
}

func hasErrFor(errs []FieldError, from int, field string) bool {
	for _, e := range errs[from:] {
		if e.Field == field {
			return true
		}
	}
	return false
}

// entriesField reads the value of "entries".
func (d *Decoder) entriesField(top *topFields) {
	if d.line[d.pos] != '[' {
		top.entries = entriesNotArray
		d.skipValue(1)
		return
	}
	top.entries = entriesArray
	d.pos++
	d.skipWS()
	if d.pos < len(d.line) && d.line[d.pos] == ']' {
		d.pos++
		return
	}
	for {
		d.skipWS()
		if d.pos >= len(d.line) {
			d.syntax("unexpected end of line")
			return
		}
		index := top.total
		top.total++
		if end := d.fastEntry(d.line, d.pos); end >= 0 {
			d.pos = end
		} else if d.line[d.pos] == '{' {
			nerr := len(d.errs)
			e := d.object(nil, index, &d.errs)
			if d.bad {
				return
			}
			if len(d.errs) == nerr {
				d.entries = append(d.entries, e)
			}
		} else {
			if !d.skipValue(2) {
				return
			}
			d.errs = append(d.errs, FieldError{Index: index, Field: "", Message: "must be an object"})
		}
		if !d.next(']') {
			return
		}
	}
}

// metadata reads the value of "metadata" into e.
func (d *Decoder) metadata(e *Entry, addErr func(field, msg string)) {
	if d.line[d.pos] != '{' {
		d.skipValue(1)
		addErr("metadata", "must be an object with string values")
		return
	}
	d.pos++
	start := len(d.kvs)
	ok := true
	total := 0
	esc := false
	d.skipWS()
	if d.pos < len(d.line) && d.line[d.pos] == '}' {
		d.pos++
		return
	}
	for {
		d.skipWS()
		if d.pos >= len(d.line) || d.line[d.pos] != '"' {
			d.syntax("expected a string key")
			return
		}
		key, good := d.str()
		if !good {
			return
		}
		if d.pos < len(d.line) && d.line[d.pos] == ':' {
			d.pos++ // the usual case, without a call
		} else if !d.expect(':') {
			return
		}
		keyChars := len(key)
		if !d.ascii {
			keyChars = utf8.RuneCount(key)
		}
		esc = esc || d.escaped
		if d.metaDuplicate(start, key) {
			d.syntax(fmt.Sprintf("duplicate key %q in metadata", key))
			return
		}
		d.skipWS()
		if d.pos >= len(d.line) {
			d.syntax("unexpected end of line")
			return
		}
		if d.line[d.pos] == '"' {
			v, good := d.str()
			if !good {
				return
			}
			esc = esc || d.escaped
			n := len(v) // characters
			if !d.ascii {
				n = utf8.RuneCount(v)
			}
			if n > MaxMetaValueChars {
				addErr("metadata."+string(key), fmt.Sprintf("must be at most %d characters", MaxMetaValueChars))
				ok = false
			}
			total += keyChars + n
			d.kvs = append(d.kvs, KV{Key: key, Value: v})
		} else {
			if !d.skipValue(2) {
				return
			}
			addErr("metadata."+string(key), "must be a string")
			ok = false
			d.kvs = append(d.kvs, KV{Key: key}) // kept for the duplicate check only
		}
		if d.pos < len(d.line) && d.line[d.pos] == ',' {
			d.pos++ // the usual case, without a call
			continue
		}
		if d.next('}') {
			continue
		}
		if d.bad {
			return
		}
		break
	}
	if total > MaxMetaChars {
		addErr("metadata", fmt.Sprintf("keys and values must be at most %d characters in all", MaxMetaChars))
		ok = false
	}
	if ok {
		e.Metadata = d.kvs[start:len(d.kvs):len(d.kvs)]
		if esc {
			e.Unescaped |= escMetadata
		}
	}
}

// metaDuplicate reports whether key is already among the metadata keys
// from start: a linear scan for the usual few keys, a set for many (so that
// a hostile object with 100,000 keys costs linear time, not quadratic).
func (d *Decoder) metaDuplicate(start int, key []byte) bool {
	keys := d.kvs[start:]
	if len(keys) < 16 {
		for _, kv := range keys {
			if string(kv.Key) == string(key) {
				return true
			}
		}
		return false
	}
	if d.metaSet == nil || d.metaStart != start || len(d.metaSet) != len(keys)-1 {
		d.metaSet = make(map[string]struct{}, 2*len(keys))
		d.metaStart = start
		for _, kv := range keys[:len(keys)-1] {
			d.metaSet[string(kv.Key)] = struct{}{}
		}
	}
	// The set holds every key but the newest one from the previous call.
	d.metaSet[string(keys[len(keys)-1].Key)] = struct{}{}
	if _, dup := d.metaSet[string(key)]; dup {
		return true
	}
	return false
}

// stringField reads any value; it returns the string and true when the value
// is a string, and skips it otherwise.
func (d *Decoder) stringField() ([]byte, bool) {
	if d.line[d.pos] != '"' {
		d.skipValue(1)
		return nil, false
	}
	v, ok := d.str()
	return v, ok
}

// intIn reads a field that must be an integer from 1 to max; it returns 0,
// after reporting the problem, when it is not.
func (d *Decoder) intIn(field string, max int, addErr func(field, msg string)) int {
	n, ok := d.intField()
	if !ok || n < 1 || n > max {
		addErr(field, "must be an integer from 1 to "+strconv.Itoa(max))
		return 0
	}
	return n
}

// intField reads any value; it returns the number and true when the value is
// a JSON integer that fits comfortably in an int, and skips it otherwise.
func (d *Decoder) intField() (int, bool) {
	c := d.line[d.pos]
	if c != '-' && (c < '0' || c > '9') {
		d.skipValue(1)
		return 0, false
	}
	start := d.pos
	isInt := d.number()
	if d.bad || !isInt {
		return 0, false
	}
	digits := d.line[start:d.pos]
	if digits[0] == '-' || len(digits) > 9 {
		return 0, false // out of any range the contract allows
	}
	n := 0
	for _, c := range digits {
		n = n*10 + int(c-'0')
	}
	return n, true
}

// number reads a JSON number and reports whether it is an integer (no
// fraction, no exponent).
func (d *Decoder) number() bool {
	line := d.line
	i := d.pos
	if i < len(line) && line[i] == '-' {
		i++
	}
	if i >= len(line) {
		d.pos = i
		return d.syntax("unexpected end of line in a number")
	}
	switch {
	case line[i] == '0':
		i++
	case line[i] >= '1' && line[i] <= '9':
		i = skipDigits(line, i)
	default:
		d.pos = i
		return d.syntax("invalid number")
	}
	isInt := true
	if i < len(line) && line[i] == '.' {
		isInt = false
		j := i + 1
		if i = skipDigits(line, j); i == j {
			d.pos = i
			return d.syntax("invalid number: no digits after '.'")
		}
	}
	if i < len(line) && (line[i] == 'e' || line[i] == 'E') {
		isInt = false
		i++
		if i < len(line) && (line[i] == '+' || line[i] == '-') {
			i++
		}
		j := i
		if i = skipDigits(line, j); i == j {
			d.pos = i
			return d.syntax("invalid number: no digits in the exponent")
		}
	}
	d.pos = i
	return isInt
}

// skipDigits returns the index of the first byte from i that is not a digit.
func skipDigits(line []byte, i int) int {
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i
}

// literal checks that the word just skipped (d.pos already past it) is lit.
func (d *Decoder) literal(lit string) bool {
	start := d.pos - len(lit)
	if d.pos > len(d.line) || string(d.line[start:d.pos]) != lit {
		d.pos = start
		return d.syntax("invalid literal")
	}
	return true
}

// skipValue reads and discards any JSON value, checking its syntax.
func (d *Decoder) skipValue(depth int) bool {
	if depth > MaxDepth {
		return d.syntax(fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
	}
	d.skipWS()
	if d.pos >= len(d.line) {
		return d.syntax("unexpected end of line")
	}
	switch c := d.line[d.pos]; c {
	case '{':
		d.pos++
		d.skipWS()
		if d.pos < len(d.line) && d.line[d.pos] == '}' {
			d.pos++
			return true
		}
		for {
			d.skipWS()
			if d.pos >= len(d.line) || d.line[d.pos] != '"' {
				return d.syntax("expected a string key")
			}
			if _, ok := d.str(); !ok || !d.expect(':') || !d.skipValue(depth+1) {
				return false
			}
			if !d.next('}') {
				return !d.bad
			}
		}
	case '[':
		d.pos++
		d.skipWS()
		if d.pos < len(d.line) && d.line[d.pos] == ']' {
			d.pos++
			return true
		}
		for {
			if !d.skipValue(depth + 1) {
				return false
			}
			if !d.next(']') {
				return !d.bad
			}
		}
	case '"':
		_, ok := d.str()
		return ok
	case 't':
		d.pos += 4
		return d.literal("true")
	case 'f':
		d.pos += 5
		return d.literal("false")
	case 'n':
		d.pos += 4
		return d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			d.number()
			return !d.bad
		}
		return d.syntax(fmt.Sprintf("unexpected character %q", c))
	}
}

// str reads the string at d.pos (which is '"'), returning its unescaped
// bytes. Strings without escapes point into the line itself.
func (d *Decoder) str() ([]byte, bool) {
	line := d.line
	start := d.pos + 1
	i := start
	d.ascii = true
	// A short string (a key, most values) ends within two words.
	for k := 0; k < 2 && i+8 <= len(line); k++ {
		if m := special(binary.LittleEndian.Uint64(line[i:])); m != 0 {
			if c := line[i+bits.TrailingZeros64(m)>>3]; c == '"' {
				i += bits.TrailingZeros64(m) >> 3
				d.pos = i + 1
				d.escaped = false
				return line[start:i], true
			}
			goto scan
		}
		i += 8
	}
	// A long one: find its end with the vectorised IndexByte, then check
	// what lies before it in one pass without a branch per byte.
	if q := bytes.IndexByte(line[i:], '"'); q >= 0 {
		if span := line[i : i+q]; bytes.IndexByte(span, '\\') < 0 && printableASCII(span) {
			d.pos = i + q + 1
			d.escaped = false
			return line[start : i+q], true
		}
	}
scan:
	for {
		// Eight bytes at a time up to the first one that needs a closer
		// look. The lowest flagged byte is always a real one (a false flag
		// can only follow a real one), so the scan jumps straight to it.
		for i+8 <= len(line) {
			if m := special(binary.LittleEndian.Uint64(line[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(line) {
			break
		}
		c := line[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.escaped = false
			return line[start:i], true
		case c == '\\':
			d.escaped, d.ascii = true, false // an escape may stand for any character
			return d.strEscaped(start, i)
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in a string")
		case c < utf8.RuneSelf:
			i++ // only in the last bytes of the line, read one by one
		default:
			d.ascii = false
			r, size := utf8.DecodeRune(line[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return nil, d.syntax("invalid UTF-8 in a string")
			}
			i += size
		}
	}
	d.pos = i
	return nil, d.syntax("unterminated string")
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// printableASCII reports whether b holds no control character and no byte
// of a multi-byte UTF-8 sequence.
func printableASCII(b []byte) bool {
	var acc uint64
	for len(b) >= 16 {
		w0 := binary.LittleEndian.Uint64(b)
		w1 := binary.LittleEndian.Uint64(b[8:])
		// A byte below 0x20 borrows into its high bit; one from 0x80 has it.
		acc |= (w0 - ones*0x20) | w0 | (w1 - ones*0x20) | w1
		b = b[16:]
	}
	if len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		acc |= (w - ones*0x20) | w
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf {
			return false
		}
	}
	return acc&highs == 0
}

// special is zero when the eight bytes of w are all plain ASCII string
// content: no '"', no '\\', no control character, no byte of a multi-byte
// UTF-8 sequence.
func special(w uint64) uint64 {
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (w-ones*0x20)&^w | w) & highs
}

// strEscaped finishes a string that has escapes, unescaping it into the arena.
func (d *Decoder) strEscaped(start, i int) ([]byte, bool) {
	line := d.line
	a0 := len(d.arena)
	d.arena = append(d.arena, line[start:i]...)
	for i < len(line) {
		if n := plainRun(line[i:]); n > 0 {
			d.arena = append(d.arena, line[i:i+n]...)
			if i += n; i >= len(line) {
				break
			}
		}
		c := line[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.arena[a0:len(d.arena):len(d.arena)], true
		case c == '\\':
			if i+1 >= len(line) {
				d.pos = i
				return nil, d.syntax("unterminated string")
			}
			switch line[i+1] {
			case '"', '\\', '/':
				d.arena = append(d.arena, line[i+1])
			case 'b':
				d.arena = append(d.arena, '\b')
			case 'f':
				d.arena = append(d.arena, '\f')
			case 'n':
				d.arena = append(d.arena, '\n')
			case 'r':
				d.arena = append(d.arena, '\r')
			case 't':
				d.arena = append(d.arena, '\t')
			case 'u':
				r, n := d.unicodeEscape(i)
				if n == 0 {
					return nil, false
				}
				d.arena = utf8.AppendRune(d.arena, r)
				i += n
				continue
			default:
				d.pos = i
				return nil, d.syntax(fmt.Sprintf("invalid escape \\%c", line[i+1]))
			}
			i += 2
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in a string")
		case c < utf8.RuneSelf:
			d.arena = append(d.arena, c)
			i++
		default:
			r, size := utf8.DecodeRune(line[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return nil, d.syntax("invalid UTF-8 in a string")
			}
			d.arena = append(d.arena, line[i:i+size]...)
			i += size
		}
	}
	d.pos = i
	return nil, d.syntax("unterminated string")
}

// unicodeEscape reads \uXXXX (and its low surrogate, if it is a high one) at
// line[i]; it returns the rune and the bytes read, or 0 bytes on error.
func (d *Decoder) unicodeEscape(i int) (rune, int) {
	r, ok := hex4(d.line, i+2)
	if !ok {
		d.pos = i
		d.syntax("invalid \\u escape")
		return 0, 0
	}
	if r < 0xD800 || r > 0xDFFF {
		return r, 6
	}
	if r <= 0xDBFF { // high surrogate: a low one must follow
		if i+7 < len(d.line) && d.line[i+6] == '\\' && d.line[i+7] == 'u' {
			lo, ok := hex4(d.line, i+8)
			if ok && lo >= 0xDC00 && lo <= 0xDFFF {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
			}
		}
	}
	d.pos = i
	d.syntax("invalid \\u escape: unpaired surrogate")
	return 0, 0
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// canonicalUTC reports whether an RFC 3339 time parsed by minuteCache is
// written exactly as time.RFC3339Nano formats it in UTC: upper-case T and Z,
// and a fraction, if any, without trailing zeros.
func canonicalUTC(v []byte) bool {
	n := len(v)
	if v[10] != 'T' || v[n-1] != 'Z' {
		return false
	}
	if n > 20 { // has a fraction: ".d…dZ", of at most 9 digits
		return n <= 30 && v[n-2] != '0'
	}
	return true
}

func validPayloadType(v []byte) bool {
	if len(v) == 0 || len(v) > MaxPayloadType {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
