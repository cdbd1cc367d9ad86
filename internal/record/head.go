package record

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Head is what an output routes and labels a record by, without its
// payload or metadata.
type Head struct {
	ID        string
	EntryType int
	LogLevel  int
	Source    string
}

// ReadHead reads a record's id, entryType, logLevel and source. It walks
// the members before the payload (the layout puts these first) instead of
// parsing the whole record, which is what outputs that pass records on
// whole but key, route or label them by these fields need at high rates.
// A record of another shape is parsed whole.
func ReadHead(rec []byte) (Head, error) {
	var h Head
	if !walkHead(rec, &h) {
		e, err := Parse(rec)
		if err != nil {
			return Head{}, err
		}
		h = Head{ID: e.ID, EntryType: e.EntryType, LogLevel: e.LogLevel, Source: e.Source}
	}
	if h.ID == "" {
		return Head{}, fmt.Errorf("record has no id")
	}
	return h, nil
}

// walkHead fills h from the record's top-level string and integer members
// until it has all four fields. It reports false when it meets anything
// it does not read itself (an object, an escaped key, bad JSON), and the
// caller then parses the record whole.
func walkHead(rec []byte, h *Head) bool {
	const (
		gotID = 1 << iota
		gotType
		gotLevel
		gotSource
		gotAll = gotID | gotType | gotLevel | gotSource
	)
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return false
	}
	got := 0
	for i++; ; {
		i = skipSpace(rec, i)
		if i >= len(rec) || rec[i] != '"' {
			return false
		}
		kEnd, escaped := stringEnd(rec, i)
		if kEnd < 0 || escaped {
			return false
		}
		key := rec[i+1 : kEnd]
		i = skipSpace(rec, kEnd+1)
		if i >= len(rec) || rec[i] != ':' {
			return false
		}
		i = skipSpace(rec, i+1)
		if i >= len(rec) {
			return false
		}
		switch c := rec[i]; {
		case c == '"':
			end, escaped := stringEnd(rec, i)
			if end < 0 {
				return false
			}
			switch string(key) {
			case "id", "source":
				s, ok := unquote(rec[i:end+1], escaped)
				if !ok {
					return false
				}
				if string(key) == "id" {
					h.ID, got = s, got|gotID
				} else {
					h.Source, got = s, got|gotSource
				}
			}
			i = end + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(rec) && rec[j] >= '0' && rec[j] <= '9' {
				j++
			}
			if j < len(rec) && (rec[j] == '.' || rec[j] == 'e' || rec[j] == 'E') {
				return false
			}
			switch string(key) {
			case "entryType", "logLevel":
				n, err := strconv.Atoi(string(rec[i:j]))
				if err != nil {
					return false
				}
				if string(key) == "entryType" {
					h.EntryType, got = n, got|gotType
				} else {
					h.LogLevel, got = n, got|gotLevel
				}
			}
			i = j
		default:
			return false
		}
		if got == gotAll {
			return true
		}
		i = skipSpace(rec, i)
		if i >= len(rec) || rec[i] != ',' {
			// The end of the object, or bad JSON: either way Parse decides.
			return false
		}
		i++
	}
}

// unquote decodes a JSON string token (quotes included).
func unquote(tok []byte, escaped bool) (string, bool) {
	if !escaped {
		return string(tok[1 : len(tok)-1]), true
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err == nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at b[start], and whether the string holds escapes; -1 when it is
// not closed.
func stringEnd(b []byte, start int) (int, bool) {
	escaped := false
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i, escaped
		}
	}
	return -1, escaped
}

var typeNames = [...]string{1: "log", 2: "metric", 3: "trace", 4: "event", 5: "audit"}

// TypeName names an entryType as docs/protocol.md does, in lower case
// ("log", "metric", "trace", "event", "audit"), or gives its number.
func TypeName(entryType int) string {
	if entryType > 0 && entryType < len(typeNames) {
		return typeNames[entryType]
	}
	return strconv.Itoa(entryType)
}
