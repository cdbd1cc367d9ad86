package logflux

import (
	"math"
	"strconv"
	"time"
)

// Level is an entry's severity: syslog severity plus one, so 1 is the most
// severe and 8 the least.
type Level int

// The eight levels of the Agent API.
const (
	LevelEmergency Level = 1
	LevelAlert     Level = 2
	LevelCritical  Level = 3
	LevelError     Level = 4
	LevelWarning   Level = 5
	LevelNotice    Level = 6
	LevelInfo      Level = 7
	LevelDebug     Level = 8
)

var levelNames = [...]string{"", "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

// String returns the level's lower-case name, such as "warning".
func (l Level) String() string {
	if l >= LevelEmergency && l <= LevelDebug {
		return levelNames[l]
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// EntryType tells the agent what kind of record an entry carries.
type EntryType int

// The entry types the Agent API accepts.
const (
	TypeLog    EntryType = 1
	TypeMetric EntryType = 2
	TypeTrace  EntryType = 3
	TypeEvent  EntryType = 4
	TypeAudit  EntryType = 5
)

var typeNames = [...]string{"", "log", "metric", "trace", "event", "audit"}

// String returns the type's lower-case name, such as "metric".
func (t EntryType) String() string {
	if t >= TypeLog && t <= TypeAudit {
		return typeNames[t]
	}
	return "EntryType(" + strconv.Itoa(int(t)) + ")"
}

// Payload types the agent knows by name. Any identifier of 1–64 letters,
// digits, '_', '-' and '.' is accepted.
const (
	PayloadGeneric     = "generic"
	PayloadGenericJSON = "generic_json"
)

// Entry is one record for the agent, with the fields of the Agent API's
// LogEntry. Zero fields take defaults when the entry is logged:
//
//   - EntryType 0 is TypeLog;
//   - Level 0 is LevelInfo;
//   - an empty Source is Config.Source;
//   - a zero Timestamp is the time of the Log call;
//   - an empty PayloadType is left out, which the agent reads as "generic".
//
// Metadata values longer than 1024 characters are cut to 1024 (the agent's
// limit), ending in "…".
type Entry struct {
	Payload     string
	EntryType   EntryType
	Source      string
	Level       Level
	Timestamp   time.Time
	PayloadType string
	Metadata    map[string]string
}

// Metric returns a metric entry (TypeMetric, LevelInfo) whose payload is the
// JSON object {"name":name,"value":value}. kv are metadata key/value pairs.
// A value that is not finite (NaN, ±Inf) is sent as a JSON string.
func Metric(name string, value float64, kv ...string) Entry {
	b := make([]byte, 0, 32+len(name))
	b = append(b, `{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"value":`...)
	b = appendFloatJSON(b, value)
	b = append(b, '}')
	return jsonEntry(TypeMetric, LevelInfo, b, kv)
}

// Trace returns a trace entry (TypeTrace, LevelInfo) for one finished span.
// Its payload is the JSON object with trace_id, span_id, name, start_time,
// end_time (RFC 3339, UTC) and duration_ms. kv are metadata key/value pairs.
func Trace(traceID, spanID, name string, start, end time.Time, kv ...string) Entry {
	b := make([]byte, 0, 160+len(name))
	b = append(b, `{"trace_id":`...)
	b = appendString(b, traceID)
	b = append(b, `,"span_id":`...)
	b = appendString(b, spanID)
	b = append(b, `,"name":`...)
	b = appendString(b, name)
	b = append(b, `,"start_time":"`...)
	b = start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","end_time":"`...)
	b = end.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_ms":`...)
	b = appendFloatJSON(b, float64(end.Sub(start))/float64(time.Millisecond))
	b = append(b, '}')
	e := jsonEntry(TypeTrace, LevelInfo, b, kv)
	e.Timestamp = start
	return e
}

// Event returns an event entry (TypeEvent, LevelInfo) whose payload is the
// JSON object {"event":name}. kv are metadata key/value pairs.
func Event(name string, kv ...string) Entry {
	b := make([]byte, 0, 16+len(name))
	b = append(b, `{"event":`...)
	b = appendString(b, name)
	b = append(b, '}')
	return jsonEntry(TypeEvent, LevelInfo, b, kv)
}

// Audit returns an audit entry (TypeAudit, LevelNotice) recording that actor
// did action on resource; its payload is the JSON object with action, actor,
// resource and outcome "success". kv are metadata key/value pairs.
func Audit(action, actor, resource string, kv ...string) Entry {
	b := make([]byte, 0, 64+len(action)+len(actor)+len(resource))
	b = append(b, `{"action":`...)
	b = appendString(b, action)
	b = append(b, `,"actor":`...)
	b = appendString(b, actor)
	b = append(b, `,"resource":`...)
	b = appendString(b, resource)
	b = append(b, `,"outcome":"success"}`...)
	return jsonEntry(TypeAudit, LevelNotice, b, kv)
}

func jsonEntry(t EntryType, l Level, payload []byte, kv []string) Entry {
	return Entry{
		Payload:     string(payload),
		EntryType:   t,
		Level:       l,
		Timestamp:   time.Now(),
		PayloadType: PayloadGenericJSON,
		Metadata:    kvMap(kv),
	}
}

// kvMap turns key/value pairs into a map; a key without a value maps to "".
func kvMap(kv []string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		m[kv[i]] = v
	}
	return m
}

func appendFloatJSON(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		b = append(b, '"')
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		return append(b, '"')
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
