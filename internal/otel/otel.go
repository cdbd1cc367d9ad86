// Package otel maps between the agent's entries and the OpenTelemetry logs data model: severities both ways, and JSON payloads as structured bodies.
package otel

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/slim/otlp/logs/v1"
)

// severities maps logLevel 1-8 (syslog severities 0-7 plus one) to the
// SeverityNumber and SeverityText the OpenTelemetry specification gives
// syslog (data-model appendix B).
var severities = [9]struct {
	num  logspb.SeverityNumber
	text string
}{
	{logspb.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED, ""},
	{logspb.SeverityNumber_SEVERITY_NUMBER_FATAL, "FATAL"},   // 1 EMERGENCY
	{logspb.SeverityNumber_SEVERITY_NUMBER_ERROR3, "ERROR3"}, // 2 ALERT
	{logspb.SeverityNumber_SEVERITY_NUMBER_ERROR2, "ERROR2"}, // 3 CRITICAL
	{logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR"},   // 4 ERROR
	{logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN"},     // 5 WARNING
	{logspb.SeverityNumber_SEVERITY_NUMBER_INFO2, "INFO2"},   // 6 NOTICE
	{logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO"},     // 7 INFO
	{logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, "DEBUG"},   // 8 DEBUG
}

// Severity returns the SeverityNumber and SeverityText of a logLevel
// (UNSPECIFIED and "" outside 1-8).
func Severity(level int) (logspb.SeverityNumber, string) {
	if level < 1 || level > 8 {
		return severities[0].num, severities[0].text
	}
	s := severities[level]
	return s.num, s.text
}

// Level returns the logLevel of a SeverityNumber, numbers between the
// table's falling to their range: 1-8 DEBUG, 9 and 11-12 INFO, 10 NOTICE,
// 13-16 WARNING, 17 ERROR, 18 CRITICAL, 19-20 ALERT, 21-24 EMERGENCY. An
// unset number takes the level from text when text names one (as
// SeverityText or a syslog name), and INFO otherwise.
func Level(num int32, text string) int {
	switch {
	case num >= 21:
		return 1
	case num >= 19:
		return 2
	case num == 18:
		return 3
	case num == 17:
		return 4
	case num >= 13:
		return 5
	case num == 10:
		return 6
	case num >= 9:
		return 7
	case num >= 1:
		return 8
	}
	return levelFromText(text)
}

func levelFromText(text string) int {
	t := strings.ToUpper(strings.TrimSpace(text))
	// "ERROR2", "WARN3": the name without its digit.
	t = strings.TrimRight(t, "0123456789")
	switch t {
	case "FATAL", "EMERGENCY", "EMERG", "PANIC":
		return 1
	case "ALERT":
		return 2
	case "CRITICAL", "CRIT":
		return 3
	case "ERROR", "ERR":
		return 4
	case "WARN", "WARNING":
		return 5
	case "NOTICE":
		return 6
	case "DEBUG", "TRACE":
		return 8
	}
	return 7
}

// JSONBody turns a JSON text into a structured body: objects as key-value
// lists, arrays as arrays, numbers as int or double, and so on. It
// reports false when s is not JSON.
func JSONBody(s string) (*commonpb.AnyValue, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return anyValue(v), true
}

func anyValue(v any) *commonpb.AnyValue {
	switch x := v.(type) {
	case nil:
		return &commonpb.AnyValue{}
	case bool:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x}}
	case string:
		return StringValue(x)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
		}
		f, _ := x.Float64()
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	case []any:
		arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(x))}
		for i, e := range x {
			arr.Values[i] = anyValue(e)
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}
	case map[string]any:
		kv := &commonpb.KeyValueList{Values: make([]*commonpb.KeyValue, 0, len(x))}
		for k, e := range x {
			kv.Values = append(kv.Values, &commonpb.KeyValue{Key: k, Value: anyValue(e)})
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: kv}}
	}
	return &commonpb.AnyValue{}
}

// StringValue is a string AnyValue.
func StringValue(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

// KV is a string attribute.
func KV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: StringValue(v)}
}

// Text is an AnyValue as the agent keeps it in a payload or a metadata
// value: a string as it is, anything else as JSON (bytes as base64, as
// encoding/json writes them), and "" for an empty value.
func Text(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	if v.GetValue() == nil {
		return ""
	}
	b, err := json.Marshal(plain(v))
	if err != nil { // a NaN or infinite double
		return fmt.Sprint(v.GetDoubleValue())
	}
	return string(b)
}

// plain is v as Go values encoding/json writes the way OTLP/JSON shows
// them: key-value lists as objects, arrays as arrays.
func plain(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, len(x.ArrayValue.GetValues()))
		for i, e := range x.ArrayValue.GetValues() {
			out[i] = plain(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := make(map[string]any, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = plain(kv.GetValue())
		}
		return out
	}
	return nil
}
