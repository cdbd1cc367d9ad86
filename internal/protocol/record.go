package protocol

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// minuteCache parses RFC 3339 date-times ("2006-01-02T15:04:05.999999999Z07:00",
// 'T' and 'Z' in either case) without allocating, remembering the minute of
// the last one: a client's timestamps mostly share it, and its date is the
// costly part to read.
type minuteCache struct {
	lo, hi uint64 // the last timestamp's first 16 bytes, "YYYY-MM-DDTHH:MM"
	unix   int64  // that minute in Unix seconds, before any offset
	set    bool
}

func (c *minuteCache) parse(b []byte) (time.Time, bool) {
	if len(b) < 20 {
		return time.Time{}, false
	}
	lo, hi := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if lo == c.lo && hi == c.hi && c.set {
		return parseSeconds(b, c.unix)
	}
	m, ok := parseMinute(b)
	if !ok {
		return time.Time{}, false
	}
	c.lo, c.hi, c.unix, c.set = lo, hi, m, true
	return parseSeconds(b, m)
}

// parseMinute reads "YYYY-MM-DDTHH:MM" at the start of a date-time of at
// least 20 bytes, returning that minute in Unix seconds.
func parseMinute(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 {
		return 0, false
	}
	if day > daysIn(month, year) { // 2025-02-30 and the like
		return 0, false
	}
	// What time.Date computes, without its general normalisation: days since
	// the epoch by the proleptic Gregorian calendar (years 0 to 9999 here).
	return (daysSinceEpoch(year, month, day)*24+int64(hour))*3600 + int64(minute)*60, true
}

// parseSeconds reads the rest of a date-time whose minute parseMinute read:
// ":SS", an optional fraction, and the offset.
func parseSeconds(b []byte, minute int64) (time.Time, bool) {
	sec, ok := digits(b[17:19])
	if b[16] != ':' || !ok || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-j < 9 {
				nsec += int(b[i]-'0') * fracScale[i-j]
			}
			i++
		}
		if i == j {
			return time.Time{}, false
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	return time.Unix(minute+int64(sec)-int64(offset), int64(nsec)).UTC(), true
}

// fracScale[k] is the value in nanoseconds of the k-th digit of a fraction.
var fracScale = [9]int{1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysIn is the number of days of month (1 to 12) in year.
func daysIn(month, year int) int {
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return monthDays[month]
}

// daysSinceEpoch counts the days from 1970-01-01 to the given date (year
// 0 to 9999), after Howard Hinnant's days_from_civil.
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// IDs are UUID version 7: 48 bits of Unix milliseconds, then 74 bits that
// start at a random value for each process and count up, so they are unique
// within a process and, with overwhelming probability, across restarts.
var (
	idRandA uint16 // 12 bits
	idSeq   atomic.Uint64
)

func init() {
	var b [10]byte
	_, _ = rand.Read(b[:])
	idRandA = binary.BigEndian.Uint16(b[0:2]) & 0x0fff
	idSeq.Store(binary.BigEndian.Uint64(b[2:10]))
}

const hexDigits = "0123456789abcdef"

// idBlock is how many sequence numbers a Stamp reserves at a time.
const idBlock = 256

// AppendID appends a new unique id in the 36-character UUID text form.
func AppendID(dst []byte, now time.Time) []byte {
	return appendID(dst, now, idSeq.Add(1))
}

// nextSeq returns the next sequence number of s's block, reserving a new
// block when it is used up: connections that make ids side by side then
// share the counter once per block, not once per id.
func (s *Stamp) nextSeq() uint64 {
	if s.seqNext == s.seqEnd {
		s.seqEnd = idSeq.Add(idBlock) + 1
		s.seqNext = s.seqEnd - idBlock
	}
	n := s.seqNext
	s.seqNext++
	return n
}

func appendID(dst []byte, now time.Time, seq uint64) []byte {
	var out [36]byte
	idPrefix(&out, now)
	idSeqText(&out, seq)
	return append(dst, out[:]...)
}

// idPrefix writes the first 19 characters of an id, "tttttttt-tttt-7rrr-":
// the milliseconds of now, the version and the process's random bits. They
// are the same for every id made in one millisecond.
func idPrefix(out *[36]byte, now time.Time) {
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(out[0:], hex8(uint32(ms>>16)))
	binary.BigEndian.PutUint64(out[10:], hex8(uint32(ms)<<16|0x7000|uint32(idRandA)))
	copy(out[9:13], out[10:14]) // the last 4 digits of ms go left of their dash
	out[8], out[13], out[18] = '-', '-', '-'
}

// idSeqText writes the last 17 characters of an id, "vsss-ssssssssssss":
// seq, with its top two bits replaced by the variant (10).
func idSeqText(out *[36]byte, seq uint64) {
	seq = seq&^(3<<62) | 1<<63
	binary.BigEndian.PutUint64(out[20:], hex8(uint32(seq>>32)))
	binary.BigEndian.PutUint64(out[28:], hex8(uint32(seq)))
	copy(out[19:23], out[20:24]) // the first 4 digits go left of their dash
	out[23] = '-'
}

// FormatUUID writes the 128 bits hi (the first 8 bytes) and lo as a UUID's
// 36-character text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase.
func FormatUUID(out *[36]byte, hi, lo uint64) {
	var w [8]byte
	binary.BigEndian.PutUint64(out[0:], hex8(uint32(hi>>32)))
	binary.BigEndian.PutUint64(w[:], hex8(uint32(hi)))
	copy(out[9:13], w[0:4])
	copy(out[14:18], w[4:8])
	binary.BigEndian.PutUint64(w[:], hex8(uint32(lo>>32)))
	copy(out[19:23], w[0:4])
	copy(out[24:28], w[4:8])
	binary.BigEndian.PutUint64(out[28:], hex8(uint32(lo)))
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
}

// hex8 returns the eight lowercase hex digits of x as the bytes of a
// big-endian word: the nibbles are spread one to a byte, then turned into
// '0'..'9' or 'a'..'f' all at once.
func hex8(x uint32) uint64 {
	n := uint64(x)
	n = (n | n<<16) & 0x0000ffff0000ffff
	n = (n | n<<8) & 0x00ff00ff00ff00ff
	n = (n | n<<4) & 0x0f0f0f0f0f0f0f0f
	letters := (n + 0x0606060606060606) >> 4 & 0x0101010101010101 // 1 in each byte >= 10
	return n + 0x3030303030303030 + letters*('a'-'0'-10)
}

// Stamp is a time of receipt with its RFC 3339 text, formatted once and
// shared by every entry received at that moment, and a block of id
// sequence numbers. A Stamp is for one goroutine at a time (each
// connection has its own).
type Stamp struct {
	T time.Time
	// Input is the name of the input the entries came from, written into
	// every record after receivedAt ("" leaves the member out).
	Input string
	text  []byte
	// head is the start of every record received at T, up to the
	// timestamp's value, with an id whose last 17 characters are filled per
	// record; headNow goes on to the end of the timestamp, T itself, for
	// entries that bring none.
	head, headNow []byte

	seqNext, seqEnd uint64 // the rest of the reserved block of sequence numbers
}

// NewStamp returns the stamp for t.
func NewStamp(t time.Time) *Stamp {
	s := &Stamp{}
	s.Set(t)
	return s
}

// Set makes s the stamp for t, reusing its memory.
func (s *Stamp) Set(t time.Time) {
	s.T = t.UTC()
	s.text = s.T.AppendFormat(s.text[:0], time.RFC3339Nano)
	var id [36]byte // its last 17 characters are written per record
	idPrefix(&id, s.T)
	s.head = append(s.head[:0], recordStart...)
	s.head = append(s.head, id[:]...)
	s.head = append(s.head, `","receivedAt":"`...)
	s.head = append(s.head, s.text...)
	if s.Input != "" {
		s.head = append(s.head, `","input":`...)
		s.head = AppendString(s.head, s.Input)
		s.head = append(s.head, `,"version":"1.0","timestamp":"`...)
	} else {
		s.head = append(s.head, `","version":"1.0","timestamp":"`...)
	}
	s.headNow = append(append(append(s.headNow[:0], s.head...), s.text...), `","entryType":`...)
}

// recordStart is how every record begins, up to its id.
const recordStart = `{"id":"`

// AppendRecord appends the normalised form of e: one JSON object with the
// contract's field names plus id and receivedAt, defaults applied and times
// in UTC. This is what the queue stores and the outputs receive.
func AppendRecord(dst []byte, e *Entry, receivedAt time.Time) []byte {
	return AppendRecordStamp(dst, e, NewStamp(receivedAt))
}

// AppendRecordStamp is AppendRecord with the time of receipt already formatted.
func AppendRecordStamp(dst []byte, e *Entry, recv *Stamp) []byte {
	// Everything up to the timestamp comes from the stamp in one copy; only
	// the id's sequence number is written per record.
	n := len(dst)
	if e.TimestampText == nil && !e.HasTimestamp {
		dst = append(dst, recv.headNow...)
	} else {
		dst = append(dst, recv.head...)
		if e.TimestampText != nil {
			dst = append(dst, e.TimestampText...)
		} else {
			dst = e.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		dst = append(dst, `","entryType":`...)
	}
	idSeqText((*[36]byte)(dst[n+len(recordStart):]), recv.nextSeq())
	dst = append(dst, byte('0'+e.EntryType))
	dst = append(dst, `,"logLevel":`...)
	dst = append(dst, byte('0'+e.LogLevel))
	dst = append(dst, `,"source":`...)
	dst = appendText(dst, e.Source, e.Unescaped&escSource != 0)
	dst = append(dst, `,"payloadType":`...)
	if len(e.PayloadType) == 0 {
		dst = append(dst, `"generic"`...)
	} else {
		dst = appendText(dst, e.PayloadType, e.Unescaped&escPayloadType != 0)
	}
	dst = append(dst, `,"payload":`...)
	dst = appendText(dst, e.Payload, e.Unescaped&escPayload != 0)
	if len(e.Metadata) > 0 {
		esc := e.Unescaped&escMetadata != 0
		dst = append(dst, `,"metadata":{`...)
		for i, kv := range e.Metadata {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendText(dst, kv.Key, esc)
			dst = append(dst, ':')
			dst = appendText(dst, kv.Value, esc)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendText appends a decoded string as JSON. A string that had no escapes
// in the message can hold no character that needs one (the decoder refused
// raw quotes, backslashes and control characters), so it is copied as it is.
func appendText(dst, b []byte, unescaped bool) []byte {
	if unescaped {
		return appendStringBytes(dst, b)
	}
	dst = append(dst, '"')
	dst = append(dst, b...)
	return append(dst, '"')
}

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendStringBytes appends b, which is valid UTF-8, as a JSON string.
func appendStringBytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); i++ {
		// Eight bytes at a time while none needs escaping (bytes of
		// multi-byte characters are copied as they are).
		for i+8 <= len(b) && !needsEscape(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, b[start:i]...)
		dst = appendEscape(dst, c)
		start = i + 1
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}

// needsEscape reports whether any of the eight bytes of w is '"', '\\' or a
// control character.
func needsEscape(w uint64) bool {
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	return zero(w^(ones*'"'))|zero(w^(ones*'\\'))|((w-ones*0x20)&^w&highs) != 0
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
}
