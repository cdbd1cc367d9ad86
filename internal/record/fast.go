package record

import (
	"strings"
	"unicode/utf8"
)

// parseLayout reads a record in the layout the agent writes (see the
// package comment) without reflection, and reports false for anything else
// — another order, another key, whitespace, an escape the agent's writer
// does not produce, invalid UTF-8, a number out of the usual — so that the
// caller reads it with encoding/json instead. What it returns is what
// encoding/json would: FuzzParseAgrees holds the two together.
//
// The strings it returns share one copy of the record (one allocation for
// all of them) unless they held escapes.
func parseLayout(rec []byte) (Entry, bool) {
	r := layoutReader{s: string(rec)}
	var e Entry
	ok := r.lit(`{"id":"`) && r.str(&e.ID) &&
		r.lit(`,"receivedAt":"`) && r.str(&e.ReceivedAt) &&
		(!r.lit(`,"input":"`) || r.str(&e.Input)) &&
		r.lit(`,"version":"`) && r.str(&e.Version) &&
		r.lit(`,"timestamp":"`) && r.str(&e.Timestamp) &&
		r.lit(`,"entryType":`) && r.int(&e.EntryType) &&
		r.lit(`,"logLevel":`) && r.int(&e.LogLevel) &&
		r.lit(`,"source":"`) && r.str(&e.Source) &&
		r.lit(`,"payloadType":"`) && r.str(&e.PayloadType) &&
		r.lit(`,"payload":"`) && r.str(&e.Payload)
	if !ok {
		return Entry{}, false
	}
	if r.lit(`,"metadata":{`) {
		e.Metadata = map[string]string{}
		if !r.lit(`}`) {
			for {
				var k, v string
				if !r.lit(`"`) || !r.str(&k) || !r.lit(`:"`) || !r.str(&v) {
					return Entry{}, false
				}
				e.Metadata[k] = v // as encoding/json: the last of a repeated key
				if r.lit(`}`) {
					break
				}
				if !r.lit(`,`) {
					return Entry{}, false
				}
			}
		}
	}
	if !r.lit(`}`) || r.i != len(r.s) {
		return Entry{}, false
	}
	return e, true
}

type layoutReader struct {
	s string
	i int
}

// lit consumes lit if the text goes on with it.
func (r *layoutReader) lit(lit string) bool {
	if strings.HasPrefix(r.s[r.i:], lit) {
		r.i += len(lit)
		return true
	}
	return false
}

// plain marks the bytes a string holds as they are: not '"', '\\', a
// control character or a byte from 0x80.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the rest of a string whose opening quote is consumed, and its
// closing quote.
func (r *layoutReader) str(dst *string) bool {
	s, i := r.s, r.i
	ascii := true
	for ; i < len(s); i++ {
		if c := s[i]; !plain[c] {
			if c < 0x80 {
				break
			}
			ascii = false
		}
	}
	if i >= len(s) || !ascii && !utf8.ValidString(s[r.i:i]) {
		return false // unterminated, or invalid UTF-8 (encoding/json replaces it)
	}
	if s[i] == '"' {
		*dst = s[r.i:i]
		r.i = i + 1
		return true
	}
	if s[i] != '\\' {
		return false // a control character: encoding/json refuses it
	}
	return r.escaped(dst, i)
}

// escaped reads a string from r.i that has an escape at i.
func (r *layoutReader) escaped(dst *string, i int) bool {
	s := r.s
	b := make([]byte, 0, i-r.i+16)
	b = append(b, s[r.i:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				return false
			}
			*dst = string(b)
			r.i = i + 1
			return true
		case c < 0x20:
			return false
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return false
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			v, ok := hex4(s, i+2)
			if !ok || 0xd800 <= v && v < 0xe000 {
				return false // surrogates: left to encoding/json
			}
			b = utf8.AppendRune(b, rune(v))
			i += 4
		default:
			return false
		}
		i += 2
	}
	return false
}

func hex4(s string, i int) (int, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | int(c)
	}
	return v, true
}

// int reads a number of 1 to 9 digits without a leading zero (the layout's
// are one digit).
func (r *layoutReader) int(dst *int) bool {
	s, i, v := r.s, r.i, 0
	for ; i < len(s) && i-r.i < 10 && '0' <= s[i] && s[i] <= '9'; i++ {
		v = v*10 + int(s[i]-'0')
	}
	if n := i - r.i; n == 0 || n > 9 || n > 1 && s[r.i] == '0' {
		return false
	}
	*dst, r.i = v, i
	return true
}
