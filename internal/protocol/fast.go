package protocol

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// fastEntry reads the object at line[i] (a '{') as an entry when it is
// written the way SDKs write one: no white space, known keys only,
// single-digit integers, string metadata values, and valid. It appends the
// entry to d.entries and returns the index after the object. For any other
// object it changes nothing and returns -1: the full scanner (object) then
// reads it and reports what is wrong with it, so what this path accepts it
// must accept exactly as object does (FuzzFastPathAgrees holds the two to
// that).
//
// It exists because it is the hot path: everything in one function, with
// the position in a register instead of in the Decoder.
func (d *Decoder) fastEntry(line []byte, i int) int {
	if d.noFast || line[i] != '{' {
		return -1
	}
	kv0, a0, pos0 := len(d.kvs), len(d.arena), d.pos
	d.entries = append(d.entries, Entry{})
	e := &d.entries[len(d.entries)-1]
	var seen uint32
	i++ // '{'
	for {
		if i >= len(line) || line[i] != '"' {
			goto bail
		}
		bit, n := knownKey(line, i)
		if n == 0 || bit >= fAction || seen&bit != 0 {
			goto bail
		}
		seen |= bit
		i += n
		if i+1 >= len(line) || line[i] != ':' {
			goto bail
		}
		i++
		switch bit {
		case fEntryType, fLogLevel:
			c := line[i]
			if c < '1' || c > '9' || i+1 >= len(line) || (line[i+1] != ',' && line[i+1] != '}') {
				goto bail
			}
			v := int(c - '0')
			if bit == fEntryType {
				if v > 5 {
					goto bail
				}
				e.EntryType = v
			} else {
				if v > 8 {
					goto bail
				}
				e.LogLevel = v
			}
			i++
		case fMetadata:
			if i = d.fastMetadata(line, i, e); i < 0 {
				goto bail
			}
		default: // the string fields
			if line[i] != '"' {
				goto bail
			}
			v, end, ascii, esc := d.fastString(line, i)
			if end < 0 {
				goto bail
			}
			i = end
			switch bit {
			case fPayload:
				if len(v) == 0 || len(v) > MaxPayloadBytes {
					goto bail
				}
				e.Payload = v
				if esc {
					e.Unescaped |= escPayload
				}
			case fSource:
				if len(v) == 0 || (len(v) > MaxSourceChars && (ascii || utf8.RuneCount(v) > MaxSourceChars)) {
					goto bail
				}
				e.Source = v
				if esc {
					e.Unescaped |= escSource
				}
			case fPayloadType:
				if !validPayloadType(v) {
					goto bail
				}
				e.PayloadType = v
				if esc {
					e.Unescaped |= escPayloadType
				}
			case fVersion:
				if string(v) != Version {
					goto bail
				}
			case fTimestamp:
				t, ok := d.minutes.parse(v)
				if !ok {
					goto bail
				}
				e.Timestamp, e.HasTimestamp = t, true
				if canonicalUTC(v) {
					e.TimestampText = v
				}
			}
		}
		if i >= len(line) {
			goto bail
		}
		if line[i] == ',' {
			i++
			continue
		}
		if line[i] != '}' {
			goto bail
		}
		i++
		break
	}
	if e.Payload == nil || e.EntryType == 0 || e.Source == nil || e.LogLevel == 0 {
		goto bail
	}
	return i
bail:
	d.entries = d.entries[:len(d.entries)-1]
	d.kvs = d.kvs[:kv0]
	d.arena = d.arena[:a0]
	d.pos = pos0
	d.bad = false // a syntax error str found is found again by object
	return -1
}

// fastString reads the string at line[i] (a '"') for fastEntry: plain, it
// is a piece of the line; with escapes, str unescapes it into the arena.
// It returns the string, the index after it (-1 for an invalid one),
// whether it is all ASCII and whether it had escapes.
func (d *Decoder) fastString(line []byte, i int) (v []byte, end int, ascii, esc bool) {
	if d.masked {
		end, ascii = maskedString(line, d.mask, i)
	} else {
		end, ascii = plainString(line, i)
	}
	if end >= 0 {
		return line[i+1 : end-1 : end-1], end, ascii, false
	}
	d.line, d.pos = line, i // as they are when decode calls this; tests call it directly
	v, ok := d.str()
	if !ok {
		return nil, -1, false, false
	}
	return v, d.pos, d.ascii, d.escaped
}

// fastMetadata reads metadata at line[i] (after its key's ':') for
// fastEntry: an object of string values, at most 16 keys (what the Go SDK sends at most). It returns the
// index after the object, or -1.
func (d *Decoder) fastMetadata(line []byte, i int, e *Entry) int {
	if line[i] != '{' {
		return -1
	}
	i++
	start := len(d.kvs)
	total := 0
	if i < len(line) && line[i] == '}' {
		return i + 1 // empty: no metadata, as object reads it
	}
	for {
		if i >= len(line) || line[i] != '"' || len(d.kvs)-start >= 16 {
			return -1
		}
		key, kend, kascii, kesc := d.fastString(line, i)
		if kend < 0 || kend+1 >= len(line) || line[kend] != ':' || line[kend+1] != '"' {
			return -1
		}
		for _, kv := range d.kvs[start:] {
			if string(kv.Key) == string(key) {
				return -1
			}
		}
		v, vend, vascii, vesc := d.fastString(line, kend+1)
		if vend < 0 {
			return -1
		}
		i = vend
		if kesc || vesc {
			e.Unescaped |= escMetadata
		}
		n := len(v)
		if !vascii {
			n = utf8.RuneCount(v)
		}
		if n > MaxMetaValueChars {
			return -1
		}
		if kascii {
			total += len(key) + n
		} else {
			total += utf8.RuneCount(key) + n
		}
		d.kvs = append(d.kvs, KV{Key: key, Value: v})
		if i >= len(line) {
			return -1
		}
		if line[i] == ',' {
			i++
			continue
		}
		if line[i] != '}' {
			return -1
		}
		break
	}
	if total > MaxMetaChars {
		return -1
	}
	e.Metadata = d.kvs[start:len(d.kvs):len(d.kvs)]
	return i + 1
}

// plainString reads the string at line[i] (a '"') when it has no escapes:
// it returns the index after its closing quote and whether it is all ASCII,
// or -1 for a string with an escape, a control character or invalid UTF-8,
// or without an end.
func plainString(line []byte, i int) (int, bool) {
	i++
	ascii := true
	// Most strings (keys, most values) end within two words: looked at
	// here, without a call.
	for k := 0; k < 2 && i+8 <= len(line); k++ {
		if m := special(binary.LittleEndian.Uint64(line[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			goto look
		}
		i += 8
	}
	i += plainRun(line[i:])
look:
	for {
		if i >= len(line) {
			return -1, false
		}
		next, end := stringStop(line, i)
		if end {
			return next, ascii && next >= 0
		}
		ascii = false
		i = next + plainRun(line[next:])
	}
}

// stringStop looks at line[i], a byte that ends a plain run of string
// bytes: the closing quote gives the index after it and true; an escape, a
// control character or invalid UTF-8 gives -1 and true; a multi-byte
// character gives the index after it and false, the string going on.
func stringStop(line []byte, i int) (int, bool) {
	switch c := line[i]; {
	case c == '"':
		return i + 1, true
	case c < utf8.RuneSelf: // '\\' or a control character
		return -1, true
	}
	r, size := utf8.DecodeRune(line[i:])
	if r == utf8.RuneError && size == 1 {
		return -1, true
	}
	return i + size, false
}

// maskedString is plainString for a line whose specialMask is mask: the
// string's end, or its first byte that needs a look, is the next bit set.
func maskedString(line []byte, mask []uint64, i int) (int, bool) {
	ascii := true
	for i++; ; {
		// The next bit set from i on.
		w := i >> 6
		if w >= len(mask) {
			return -1, false
		}
		m := mask[w] >> (uint(i) & 63)
		for m == 0 {
			if w++; w >= len(mask) {
				return -1, false
			}
			m, i = mask[w], w<<6
		}
		i += bits.TrailingZeros64(m)
		next, end := stringStop(line, i)
		if end {
			return next, ascii && next >= 0
		}
		ascii = false
		i = next
	}
}

// plain reports whether every byte of b is a plain string byte (what
// plainRun(b) == len(b) says), without looking at any byte alone: whole
// blocks with AVX2 where the CPU has it, then words, the last one
// overlapping the one before.
func plain(b []byte) bool {
	n := len(b)
	if n < 8 {
		w := uint64(0x2020202020202020) // spaces, which are plain
		for i, c := range b {
			w = w&^(0xff<<(8*i)) | uint64(c)<<(8*i)
		}
		return special(w) == 0
	}
	i := 0
	if hasAVX2 && n >= 32 {
		if i = plainBlocks(b); i < n&^31 {
			return false
		}
	}
	// special flags a byte falsely only after a real one in the same word,
	// so the words' flags can be gathered and looked at once.
	var flags uint64
	for ; i+8 <= n; i += 8 {
		flags |= special(binary.LittleEndian.Uint64(b[i:]))
	}
	flags |= special(binary.LittleEndian.Uint64(b[n-8:]))
	return flags == 0
}

// plainRun returns the length of the run of plain string bytes that b
// starts with: bytes that are not '"', '\\', a control character or part of
// a multi-byte UTF-8 sequence.
func plainRun(b []byte) int {
	i := 0
	// A short run (a key, most values) ends within two words; a long one
	// is looked at 32 bytes at a time where the CPU can.
	for k := 0; k < 2 && i+8 <= len(b); k++ {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	if len(b)-i >= 32 {
		i += plainBlocks(b[i:])
	}
	// Eight bytes at a time up to the first one that needs a look. The
	// lowest flagged byte is always a real one (a false flag can only
	// follow a real one), so this stops right on it.
	for i+8 <= len(b) {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	return i
}
