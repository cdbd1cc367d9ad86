package remote

import (
	"fmt"
	"strings"

	"github.com/logflux/agent/internal/record"
)

// Template is a destination name with the entry's fields in it, such as a
// Kafka topic `logs.{source}` or a NATS subject `logs.{entryType}`.
// `{source}` is the entry's source and `{entryType}` its type's name (log,
// metric, trace, event, audit), each passed through the output's clean
// function so that the result is a valid name for the backend.
type Template struct {
	parts []part
	clean func(string) string
}

type part struct {
	text  string
	field string // "", "source" or "entryType"
}

// TemplateFields are the placeholders a Template may hold.
var TemplateFields = []string{"{source}", "{entryType}"}

// ParseTemplate reads s; clean makes a field's value safe for the backend.
func ParseTemplate(s string, clean func(string) string) (*Template, error) {
	t := &Template{clean: clean}
	for rest := s; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q has a { without its }", s)
		}
		switch name := rest[open+1 : open+end]; name {
		case "source", "entryType":
			t.parts = append(t.parts, part{field: name})
		default:
			return nil, fmt.Errorf("{%s} is not one of %s", name, strings.Join(TemplateFields, ", "))
		}
		rest = rest[open+end+1:]
	}
	return t, nil
}

// Constant returns the name when the template has no placeholder.
func (t *Template) Constant() (string, bool) {
	switch {
	case len(t.parts) == 0:
		return "", true
	case len(t.parts) == 1 && t.parts[0].field == "":
		return t.parts[0].text, true
	}
	return "", false
}

// Expand fills the template in for one entry.
func (t *Template) Expand(h *record.Head) string {
	if s, ok := t.Constant(); ok {
		return s
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.text)
		case "source":
			b.WriteString(t.clean(h.Source))
		case "entryType":
			b.WriteString(t.clean(record.TypeName(h.EntryType)))
		}
	}
	return b.String()
}

// Sample expands the template with sample values, for validating the
// names it can make.
func (t *Template) Sample() string {
	return t.Expand(&record.Head{Source: "source", EntryType: 1})
}
