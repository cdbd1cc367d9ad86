package otlp

import (
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/otel"
	"github.com/logflux/agent/internal/record"
)

// Field numbers of the OTLP messages the protobuf encoder writes
// (opentelemetry-proto: collector/logs/v1, logs/v1, common/v1, resource/v1).
const (
	fRequestResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fResourceLogsRes     = 1 // ResourceLogs.resource
	fResourceLogsScope   = 2 // ResourceLogs.scope_logs
	fResourceAttributes  = 1 // Resource.attributes
	fScopeLogsScope      = 1 // ScopeLogs.scope
	fScopeLogsRecords    = 2 // ScopeLogs.log_records
	fScopeName           = 1 // InstrumentationScope.name
	fRecordTime          = 1 // LogRecord.time_unix_nano (fixed64)
	fRecordSeverity      = 2 // LogRecord.severity_number
	fRecordSeverityText  = 3 // LogRecord.severity_text
	fRecordBody          = 5 // LogRecord.body
	fRecordAttributes    = 6 // LogRecord.attributes
	fRecordObserved      = 11
	fKVKey               = 1 // KeyValue.key
	fKVValue             = 2 // KeyValue.value
	fAnyString           = 1 // AnyValue.string_value
	fAnyInt              = 3 // AnyValue.int_value
)

// wireEncoder writes an ExportLogsServiceRequest in protobuf straight from
// the entries into buffers it keeps between requests: the same message as
// proto.Marshal of what encodeMessage builds (TestWireMatchesProto holds the
// two together), without a struct per record and attribute or reflection.
// It is used by one Write at a time.
type wireEncoder struct {
	scope    []byte // the ScopeLogs.scope field, the same for every source
	resource []byte // the Resource.attributes after service.name: host.name and the configured ones
	bySource map[string]*sourceRecords
	order    []string
	gen      uint64
	rec      []byte   // one LogRecord
	keys     []string // one entry's metadata keys
	out      []byte   // the request
}

// sourceRecords are one source's LogRecord fields of the request being encoded.
type sourceRecords struct {
	gen  uint64
	recs []byte
}

// maxKeptSources bounds the per-source buffers kept between requests.
const maxKeptSources = 256

func newWireEncoder(host string, resource map[string]string) *wireEncoder {
	w := &wireEncoder{bySource: map[string]*sourceRecords{}}
	var scope []byte
	scope = protowire.AppendTag(scope, fScopeName, protowire.BytesType)
	scope = protowire.AppendString(scope, ScopeName)
	w.scope = protowire.AppendTag(nil, fScopeLogsScope, protowire.BytesType)
	w.scope = protowire.AppendBytes(w.scope, scope)
	if host != "" {
		w.resource = appendKV(w.resource, fResourceAttributes, "host.name", host)
	}
	keys := make([]string, 0, len(resource))
	for k := range resource {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.resource = appendKV(w.resource, fResourceAttributes, k, resource[k])
	}
	return w
}

// encode returns the request for entries, valid until the next call.
func (w *wireEncoder) encode(entries []record.Entry) []byte {
	if len(w.bySource) > maxKeptSources {
		clear(w.bySource)
	}
	w.gen++
	w.order = w.order[:0]
	for i := range entries {
		e := &entries[i]
		s := w.bySource[e.Source]
		if s == nil {
			s = &sourceRecords{}
			w.bySource[e.Source] = s
		}
		if s.gen != w.gen {
			s.gen, s.recs = w.gen, s.recs[:0]
			w.order = append(w.order, e.Source)
		}
		w.rec = w.appendLogRecord(w.rec[:0], e)
		s.recs = protowire.AppendTag(s.recs, fScopeLogsRecords, protowire.BytesType)
		s.recs = protowire.AppendBytes(s.recs, w.rec)
	}
	slices.Sort(w.order)
	out := w.out[:0]
	for _, src := range w.order {
		recs := w.bySource[src].recs
		// Resource: service.name, then the attributes every source shares.
		resLen := sizeKV(fResourceAttributes, "service.name", src) + len(w.resource)
		scopeLen := len(w.scope) + len(recs)
		rlLen := protowire.SizeTag(fResourceLogsRes) + protowire.SizeBytes(resLen) +
			protowire.SizeTag(fResourceLogsScope) + protowire.SizeBytes(scopeLen)
		out = protowire.AppendTag(out, fRequestResourceLogs, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(rlLen))
		out = protowire.AppendTag(out, fResourceLogsRes, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(resLen))
		out = appendKV(out, fResourceAttributes, "service.name", src)
		out = append(out, w.resource...)
		out = protowire.AppendTag(out, fResourceLogsScope, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(scopeLen))
		out = append(out, w.scope...)
		out = append(out, recs...)
	}
	w.out = out
	return out
}

// appendLogRecord appends the fields of e's LogRecord (not its tag and
// length), in field order as proto.Marshal writes them.
func (w *wireEncoder) appendLogRecord(b []byte, e *record.Entry) []byte {
	if t := unixNano(e.Timestamp); t != 0 {
		b = protowire.AppendTag(b, fRecordTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, t)
	}
	num, text := otel.Severity(e.LogLevel)
	if num != 0 {
		b = protowire.AppendTag(b, fRecordSeverity, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(num))
	}
	if text != "" {
		b = protowire.AppendTag(b, fRecordSeverityText, protowire.BytesType)
		b = protowire.AppendString(b, text)
	}
	b = appendBody(b, e)
	w.keys = w.keys[:0]
	for k := range e.Metadata {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys)
	for _, k := range w.keys {
		b = appendKV(b, fRecordAttributes, k, e.Metadata[k])
	}
	b = appendKV(b, fRecordAttributes, AttrID, e.ID)
	b = appendKV(b, fRecordAttributes, AttrSource, e.Source)
	b = appendIntKV(b, fRecordAttributes, AttrEntryType, int64(e.EntryType))
	b = appendKV(b, fRecordAttributes, AttrPayloadType, e.PayloadType)
	if e.Input != "" {
		b = appendKV(b, fRecordAttributes, AttrInput, e.Input)
	}
	if t := unixNano(e.ReceivedAt); t != 0 {
		b = protowire.AppendTag(b, fRecordObserved, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, t)
	}
	return b
}

// appendBody appends the body: a generic_json payload that parses as a
// structured value (marshalled by the protobuf library: rare, and nested),
// else the payload as a string.
func appendBody(b []byte, e *record.Entry) []byte {
	if e.PayloadType == "generic_json" {
		if body, ok := otel.JSONBody(e.Payload); ok {
			if m, err := proto.Marshal(body); err == nil {
				b = protowire.AppendTag(b, fRecordBody, protowire.BytesType)
				return protowire.AppendBytes(b, m)
			}
		}
	}
	b = protowire.AppendTag(b, fRecordBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(sizeString(fAnyString, e.Payload)))
	b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
	return protowire.AppendString(b, e.Payload)
}

func sizeString(num protowire.Number, s string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

// sizeKV is the size of a string KeyValue field numbered num.
func sizeKV(num protowire.Number, k, v string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(kvLen(k, v))
}

// kvLen is the length of a string KeyValue message.
func kvLen(k, v string) int {
	return sizeString(fKVKey, k) + protowire.SizeTag(fKVValue) + protowire.SizeBytes(sizeString(fAnyString, v))
}

// appendKV appends a string KeyValue as field num.
func appendKV(b []byte, num protowire.Number, k, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvLen(k, v)))
	b = protowire.AppendTag(b, fKVKey, protowire.BytesType)
	b = protowire.AppendString(b, k)
	b = protowire.AppendTag(b, fKVValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(sizeString(fAnyString, v)))
	b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// appendIntKV appends an integer KeyValue as field num.
func appendIntKV(b []byte, num protowire.Number, k string, v int64) []byte {
	anyLen := protowire.SizeTag(fAnyInt) + protowire.SizeVarint(uint64(v))
	kvLen := sizeString(fKVKey, k) + protowire.SizeTag(fKVValue) + protowire.SizeBytes(anyLen)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvLen))
	b = protowire.AppendTag(b, fKVKey, protowire.BytesType)
	b = protowire.AppendString(b, k)
	b = protowire.AppendTag(b, fKVValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = protowire.AppendTag(b, fAnyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// unixNano reads an RFC 3339 time as Unix nanoseconds (0 when it does not
// parse). The agent writes UTC times as 2006-01-02T15:04:05[.fraction]Z,
// read here without time.Parse; anything else goes to time.Parse.
func unixNano(s string) uint64 {
	if ns, ok := fastUTC(s); ok {
		return ns
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return uint64(t.UnixNano())
}

// fastUTC reads YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z with every field in range,
// and reports false for anything else.
func fastUTC(s string) (uint64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1970 || year > 2261 || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	frac := 0
	if rest := s[19 : len(s)-1]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, false
		}
		f, ok := num(20, len(rest)-1)
		if !ok {
			return 0, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			f *= 10
		}
		frac = f
	}
	days := daysSinceEpoch(year, month, day)
	return uint64(((days*24+int64(hour))*60+int64(minute))*60+int64(sec))*1e9 + uint64(frac), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to the date
// (Howard Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}
