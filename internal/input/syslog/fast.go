package syslog

import (
	"bytes"
	"slices"
	"time"
	"unsafe"

	"github.com/leodido/go-syslog/v4/common"

	"github.com/logflux/agent/internal/input/entrybuild"
)

// The fast path: most syslog senders (rsyslog, syslog-ng, journald's
// forwarder, logger --rfc5424, every logging library's RFC 5424 formatter)
// write RFC 5424 in one plain shape. fast5424 reads that shape directly into
// the entry's fields, without go-syslog's allocations (a string per field, a
// map per structured-data element, a time.Time parse), and refuses anything
// else: another version, a timestamp it does not check completely, a
// structured-data value with escapes or non-ASCII bytes, a repeated SD-ID or
// parameter, a field over its length limit. A refused message goes to
// go-syslog as before, so the fast path never decides differently from it
// (TestFastPathAgreesWithGoSyslog and FuzzFastPath hold it to that).

// sdItem is one structured-data parameter (or a parameterless element) as
// offsets into the message.
type sdItem struct {
	id, name, value []byte
	elem            int  // the element's place in the message
	param           bool // false: an element without parameters
}

// fastFacility is the facility keywords by code (go-syslog's names).
func fastFacility() [24]string {
	var f [24]string
	for i := range f {
		if k, ok := common.FacilityKeywords[uint8(i)]; ok {
			f[i] = k
		} else {
			f[i] = common.Facility[uint8(i)]
		}
	}
	return f
}

// fast5424 fills p.f from raw (trailing newlines already cut) when it is an
// RFC 5424 message of the plain shape, and reports whether it did. The
// fields point into raw and into the parser's memory: they are valid until
// raw is overwritten or the next parse.
func (p *parser) fast5424(raw []byte, peer string) bool {
	pri, i, ok := fastPRI(raw)
	if !ok || i+2 > len(raw) || raw[i] != '1' || raw[i+1] != ' ' {
		return false
	}
	i += 2
	var ts, host, app, proc, msgid []byte
	if ts, i, ok = token(raw, i, 32); !ok || !(isNil(ts) || validTimestamp(ts)) {
		return false
	}
	if host, i, ok = token(raw, i, 255); !ok {
		return false
	}
	if app, i, ok = token(raw, i, 48); !ok {
		return false
	}
	if proc, i, ok = token(raw, i, 128); !ok {
		return false
	}
	if msgid, i, ok = token(raw, i, 32); !ok {
		return false
	}
	p.sd = p.sd[:0]
	if i < len(raw) && raw[i] == '-' {
		i++
	} else if i, ok = p.structuredData(raw, i); !ok {
		return false
	}
	var msg []byte
	switch {
	case i == len(raw):
	case raw[i] == ' ':
		msg = raw[i+1:]
	default:
		return false
	}
	if len(p.sd) > 1 {
		slices.SortFunc(p.sd, func(a, b sdItem) int {
			if c := bytes.Compare(a.id, b.id); c != 0 {
				return c
			}
			return bytes.Compare(a.name, b.name)
		})
		for k := 1; k < len(p.sd); k++ {
			a, b := &p.sd[k-1], &p.sd[k]
			if bytes.Equal(a.id, b.id) && (a.elem != b.elem || bytes.Equal(a.name, b.name)) {
				return false // a repeated SD-ID (go-syslog's error) or parameter
			}
		}
	}

	f := &p.f
	*f = entrybuild.Fields{PayloadType: PayloadType, LogLevel: int(pri%8) + 1, Metadata: f.Metadata[:0]}
	p.meta("syslog.facility", p.facilities[pri/8])
	p.metaBytes("syslog.hostname", host)
	p.metaBytes("syslog.appname", app)
	p.metaBytes("syslog.procid", proc)
	p.metaBytes("syslog.msgid", msgid)
	p.meta("syslog.format", "rfc5424")
	p.keys = p.keys[:0]
	for k := range p.sd {
		it := &p.sd[k]
		start := len(p.keys)
		p.keys = append(p.keys, "syslog.sd."...)
		p.keys = append(p.keys, it.id...)
		if it.param {
			p.keys = append(p.keys, '.')
			p.keys = append(p.keys, it.name...)
		}
		// Strings into p.keys stay valid when it grows: the old array is
		// kept by them and never written again in this parse.
		p.meta(unsafe.String(&p.keys[start], len(p.keys)-start), stringOf(it.value))
	}
	switch {
	case p.cfg.Source != "":
		f.Source = p.cfg.Source
	case !isNil(app):
		f.Source = stringOf(app)
	case !isNil(host):
		f.Source = stringOf(host)
	default:
		f.Source = "syslog"
	}
	if len(msg) > 0 {
		f.Payload = stringOf(msg)
	} else {
		f.Payload = stringOf(raw)
	}
	if !isNil(ts) {
		f.TimeText = stringOf(ts)
	}
	if peer != "" {
		p.meta("syslog.peer", peer)
	}
	return true
}

// structuredData reads one or more SD-ELEMENTs at raw[i:] into p.sd.
func (p *parser) structuredData(raw []byte, i int) (int, bool) {
	for elem := 0; i < len(raw) && raw[i] == '['; elem++ {
		id, j, ok := sdName(raw, i+1)
		if !ok {
			return i, false
		}
		i = j
		params := 0
		for i < len(raw) && raw[i] == ' ' {
			name, j, ok := sdName(raw, i+1)
			if !ok || j+1 >= len(raw) || raw[j] != '=' || raw[j+1] != '"' {
				return i, false
			}
			j += 2
			start := j
			for j < len(raw) && raw[j] != '"' {
				if c := raw[j]; c >= 0x80 || c == '\\' || c == ']' {
					return i, false // escapes and UTF-8: go-syslog's to check
				}
				j++
			}
			if j == len(raw) {
				return i, false
			}
			p.sd = append(p.sd, sdItem{id: id, name: name, value: raw[start:j], elem: elem, param: true})
			params++
			i = j + 1
		}
		if i >= len(raw) || raw[i] != ']' {
			return i, false
		}
		i++
		if params == 0 {
			p.sd = append(p.sd, sdItem{id: id, elem: elem})
		}
	}
	return i, len(p.sd) > 0
}

// sdName reads an SD-NAME (1 to 32 printable characters other than '=',
// ' ', ']' and '"') at raw[i:].
func sdName(raw []byte, i int) ([]byte, int, bool) {
	start := i
	for i < len(raw) && i-start <= 32 {
		c := raw[i]
		if c < 0x21 || c > 0x7e || c == '=' || c == ']' || c == '"' {
			break
		}
		i++
	}
	n := i - start
	return raw[start:i], i, n >= 1 && n <= 32
}

// fastPRI reads "<PRI>" (0, or 1 to 191 without leading zeros) and returns
// it and the index after '>'.
func fastPRI(raw []byte) (pri, next int, ok bool) {
	if len(raw) < 3 || raw[0] != '<' {
		return 0, 0, false
	}
	i := 1
	for i < len(raw) && i <= 4 && raw[i] >= '0' && raw[i] <= '9' {
		pri = pri*10 + int(raw[i]-'0')
		i++
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(raw) || raw[i] != '>' || (raw[1] == '0' && digits > 1) || pri > 191 {
		return 0, 0, false
	}
	return pri, i + 1, true
}

// token reads a header field (1 to max printable ASCII characters) at
// raw[i:] and the space after it.
func token(raw []byte, i, max int) ([]byte, int, bool) {
	start := i
	for i < len(raw) && raw[i] > 0x20 && raw[i] < 0x7f {
		i++
	}
	n := i - start
	if n == 0 || n > max || i >= len(raw) || raw[i] != ' ' {
		return nil, 0, false
	}
	return raw[start:i], i + 1, true
}

func isNil(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// validTimestamp reports whether b is an RFC 5424 TIMESTAMP that go-syslog
// reads and the entry's RFC 3339 parser reads to the same instant:
// YYYY-MM-DDTHH:MM:SS[.1-6 digits](Z|+HH:MM|-HH:MM), a real date, years
// 1000 to 9998 (so that the time in UTC keeps four digits).
func validTimestamp(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1000 || year > 9998 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	i := 19
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j-i-1 < 1 || j-i-1 > 6 {
			return false
		}
		i = j
	}
	rest := b[i:]
	if len(rest) == 1 {
		return rest[0] == 'Z'
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	oh, ok1 := num(rest[1:3])
	om, ok2 := num(rest[4:6])
	return ok1 && ok2 && oh <= 23 && om <= 59
}

// daysIn is the number of days of month in year.
func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// stringOf is b as a string without a copy, valid while b is not written.
func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (p *parser) metaBytes(k string, v []byte) {
	if len(v) > 0 && !isNil(v) {
		p.meta(k, stringOf(v))
	}
}
