package logflux

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logflux/agent/internal/record"
)

// The documented attribute limits of schema v2.0. Metadata beyond them goes
// to meta.metadata_overflow. docs/logflux-mapping.md describes the mapping.
const (
	maxAttributes   = 50
	maxAttrKeyLen   = 64
	maxAttrValueLen = 256
	maxSourceLen    = 256
)

// entry is a normalised agent entry as the queue holds it.
type entry = record.Entry

// payload is the schema v2.0 document that is compressed and encrypted.
type payload struct {
	V          string            `json:"v"`
	Type       string            `json:"type"`
	Source     string            `json:"source"`
	Level      int               `json:"level,omitempty"`
	TS         string            `json:"ts,omitempty"`
	Message    string            `json:"message,omitempty"`
	Name       string            `json:"name,omitempty"`
	Value      *float64          `json:"value,omitempty"`
	Unit       string            `json:"unit,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	TraceID    string            `json:"trace_id,omitempty"`
	SpanID     string            `json:"span_id,omitempty"`
	ParentSpan string            `json:"parent_span_id,omitempty"`
	Operation  string            `json:"operation,omitempty"`
	StartTime  string            `json:"start_time,omitempty"`
	EndTime    string            `json:"end_time,omitempty"`
	DurationMS *float64          `json:"duration_ms,omitempty"`
	Status     string            `json:"status,omitempty"`
	Event      string            `json:"event,omitempty"`
	Action     string            `json:"action,omitempty"`
	Actor      string            `json:"actor,omitempty"`
	ActorType  string            `json:"actor_type,omitempty"`
	Resource   string            `json:"resource,omitempty"`
	ResourceID string            `json:"resource_id,omitempty"`
	Outcome    string            `json:"outcome,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Meta       meta              `json:"meta"`
}

// meta is what the agent adds under the payload's meta: enough to recognise
// duplicates and to recover everything the mapping moved.
type meta struct {
	ID                string            `json:"id,omitempty"`
	ReceivedAt        string            `json:"received_at,omitempty"`
	PayloadType       string            `json:"payload_type"`
	EntryVersion      string            `json:"entry_version,omitempty"`
	OriginalPayload   *string           `json:"original_payload,omitempty"`
	OriginalSource    string            `json:"original_source,omitempty"`
	OriginalTimestamp string            `json:"original_timestamp,omitempty"`
	MetadataOverflow  map[string]string `json:"metadata_overflow,omitempty"`
}

// typeNames maps the agent's entry types to the payload's type.
var typeNames = map[int]string{1: "log", 2: "metric", 3: "trace", 4: "event", 5: "audit"}

// mapped is one entry ready to compress and encrypt.
type mapped struct {
	key       string // the entry's id, or a hash of the record without one
	entryType int
	timestamp string // X-LF-Timestamp
	json      []byte // the v2.0 payload
}

// recordKey identifies a record for the delivered and refused sets.
func recordKey(id string, rec []byte) string {
	if id != "" {
		return id
	}
	sum := sha256.Sum256(rec)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// mapRecord turns one queue record into a v2.0 payload. now stands in for
// a timestamp the record lacks altogether.
func mapRecord(rec []byte, now time.Time) (mapped, error) {
	e, err := record.Parse(rec)
	if err != nil {
		return mapped{key: recordKey("", rec)}, err
	}
	m := mapped{key: recordKey(e.ID, rec), entryType: e.EntryType}
	p, ts, err := mapEntry(e, now)
	if err != nil {
		return m, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return m, fmt.Errorf("encode payload: %w", err)
	}
	m.json = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	m.timestamp = ts
	return m, nil
}

// mapEntry maps e and returns the payload and the part's timestamp.
func mapEntry(e entry, now time.Time) (*payload, string, error) {
	typ, ok := typeNames[e.EntryType]
	if !ok {
		return nil, "", fmt.Errorf("entryType %d is not one the agent forwards (1 to 5)", e.EntryType)
	}
	if e.Payload == "" {
		return nil, "", errNoPayload
	}
	if e.LogLevel < 1 || e.LogLevel > 8 {
		return nil, "", fmt.Errorf("logLevel %d is not 1 to 8", e.LogLevel)
	}
	p := &payload{V: "2.0", Type: typ, Source: e.Source, Level: e.LogLevel}
	p.Meta = meta{ID: e.ID, ReceivedAt: e.ReceivedAt, PayloadType: e.PayloadType}
	if p.Meta.PayloadType == "" {
		p.Meta.PayloadType = "generic"
	}
	if e.Version != "" && e.Version != "1.0" {
		p.Meta.EntryVersion = e.Version
	}
	if p.Source == "" || utf8.RuneCountInString(p.Source) > maxSourceLen {
		p.Meta.OriginalSource = e.Source
		p.Source = truncate(e.Source, maxSourceLen)
		if p.Source == "" {
			p.Source = "unknown"
		}
	}

	// ts: the entry's timestamp, else its receipt, else now.
	ts, ok := parseTime(e.Timestamp)
	if !ok {
		if e.Timestamp != "" {
			p.Meta.OriginalTimestamp = e.Timestamp
		}
		if ts, ok = parseTime(e.ReceivedAt); !ok {
			ts = now
		}
	}
	p.TS = ts.UTC().Format(time.RFC3339Nano)

	p.Attributes, p.Meta.MetadataOverflow = splitMetadata(e.Metadata)

	lifted := false
	if e.PayloadType == "generic_json" {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(e.Payload))
		dec.UseNumber()
		if dec.Decode(&obj) == nil && !dec.More() && obj != nil {
			lifted = lift(p, obj)
		}
	}
	if lifted {
		orig := e.Payload
		p.Meta.OriginalPayload = &orig
	} else {
		switch typ {
		case "log":
			p.Message = e.Payload
		case "metric", "trace":
			p.Name = e.Payload
		case "event":
			p.Event = e.Payload
		case "audit":
			p.Action = e.Payload
		}
	}
	return p, p.TS, nil
}

// splitMetadata keeps in attributes the metadata that fits the attribute
// limits, taking keys in sorted order, and returns the rest as overflow.
func splitMetadata(md map[string]string) (attrs, overflow map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(md)) {
		v := md[k]
		fits := k != "" && utf8.RuneCountInString(k) <= maxAttrKeyLen && utf8.RuneCountInString(v) <= maxAttrValueLen
		if fits && len(attrs) < maxAttributes {
			if attrs == nil {
				attrs = map[string]string{}
			}
			attrs[k] = v
			continue
		}
		if overflow == nil {
			overflow = map[string]string{}
		}
		overflow[k] = v
	}
	return attrs, overflow
}

// lift moves the known fields of a generic_json payload object into p. It
// lifts nothing, and reports false, unless the object carries the field that
// names an entry of p's type in the right form.
func lift(p *payload, obj map[string]any) bool {
	str := func(k string) string { s, _ := obj[k].(string); return s }
	num := func(k string) *float64 {
		n, ok := obj[k].(json.Number)
		if !ok {
			return nil
		}
		f, err := n.Float64()
		if err != nil {
			return nil
		}
		return &f
	}
	switch p.Type {
	case "metric":
		if str("name") == "" || num("value") == nil {
			return false
		}
		p.Name, p.Value, p.Unit = str("name"), num("value"), str("unit")
		if k := str("kind"); k == "counter" || k == "gauge" || k == "distribution" {
			p.Kind = k
		}
	case "trace":
		if str("name") == "" && str("operation") == "" {
			return false
		}
		p.Name, p.Operation, p.Status = str("name"), str("operation"), str("status")
		p.TraceID = hexID(str("trace_id"), 32)
		p.SpanID = hexID(str("span_id"), 16)
		p.ParentSpan = hexID(str("parent_span_id"), 16)
		p.StartTime, p.EndTime = rfc3339(str("start_time")), rfc3339(str("end_time"))
		p.DurationMS = num("duration_ms")
	case "event":
		if str("event") == "" {
			return false
		}
		p.Event = str("event")
	case "audit":
		if str("action") == "" {
			return false
		}
		p.Action, p.Actor, p.ActorType = str("action"), str("actor"), str("actor_type")
		p.Resource, p.ResourceID, p.Outcome = str("resource"), str("resource_id"), str("outcome")
	default:
		return false
	}
	return true
}

// hexID returns s if it is n hex digits, else "" (the original payload
// keeps it).
func hexID(s string, n int) string {
	if len(s) != n {
		return ""
	}
	if _, err := hex.DecodeString(s); err != nil {
		return ""
	}
	return s
}

// parseTime reads an RFC 3339 time that stays within years 0 to 9999 in
// UTC, so that it can be written back as RFC 3339.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	return t, t.Year() >= 0 && t.Year() <= 9999
}

func rfc3339(s string) string {
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return ""
	}
	return s
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// errNoPayload is returned for an entry whose payload is empty.
var errNoPayload = errors.New("payload is empty")
