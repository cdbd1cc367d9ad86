package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input/inputtest"
)

func start(t *testing.T, tweak func(*Config)) (*Input, *inputtest.Sink) {
	t.Helper()
	c := Factory{}.NewConfig().(*Config)
	c.HTTPAddress = "127.0.0.1:0"
	if tweak != nil {
		tweak(c)
	}
	in, sink := inputtest.Start(t, Factory{}, c, component.Settings{Name: "otel"})
	return in.(*Input), sink
}

// The official OpenTelemetry Go SDK's OTLP/HTTP exporter (protobuf, gzip).
func TestOfficialExporter(t *testing.T) {
	in, sink := start(t, nil)
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(in.URL()), otlploghttp.WithCompression(otlploghttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("host.name", "web-7"))
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)), sdklog.WithResource(res))
	logger := provider.Logger("payments", otellog.WithInstrumentationVersion("1.2.3"))

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	ts := time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)

	var r otellog.Record
	r.SetTimestamp(ts)
	r.SetSeverity(otellog.SeverityWarn)
	r.SetBody(attribute.StringValue("card declined"))
	r.AddAttributes(attribute.String("order", "42"), attribute.Int("amount", 1999), attribute.Bool("retry", false))
	logger.Emit(sctx, r)

	var r2 otellog.Record
	r2.SetSeverity(otellog.SeverityError2)
	r2.SetBody(attribute.MapValue(attribute.String("code", "E42"), attribute.Int("attempts", 3)))
	logger.Emit(ctx, r2)

	var r3 otellog.Record
	r3.SetSeverityText("NOTICE")
	r3.SetBody(attribute.StringValue("no number, text only"))
	logger.Emit(ctx, r3)

	if err := provider.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	es := sink.Wait(t, 3)
	e := es[0]
	if e.Payload != "card declined" || e.Source != "checkout" || e.LogLevel != 5 || e.Timestamp != "2025-03-04T05:06:07.89Z" || e.PayloadType != "generic" || e.Input != "otel" {
		t.Errorf("entry %+v", e)
	}
	for k, v := range map[string]string{"order": "42", "amount": "1999", "retry": "false", "service.name": "checkout", "host.name": "web-7",
		"otel.scope.name": "payments", "otel.scope.version": "1.2.3", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"} {
		if e.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, e.Metadata[k], v)
		}
	}
	if es[1].PayloadType != "generic_json" || es[1].LogLevel != 3 {
		t.Errorf("map body: %+v", es[1])
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(es[1].Payload), &body); err != nil || body["code"] != "E42" || body["attempts"] != float64(3) {
		t.Errorf("map body payload %q: %v", es[1].Payload, err)
	}
	if es[2].LogLevel != 6 {
		t.Errorf("SeverityText NOTICE without a number: logLevel %d", es[2].LogLevel)
	}
	if sink.Syncs.Load() == 0 {
		t.Error("answered without a Sync")
	}
}

func post(t *testing.T, url, contentType string, body []byte, gz bool) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		req.Body = io.NopCloser(&b)
		req.ContentLength = int64(b.Len())
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// OTLP/JSON as the specification writes it: hex ids, integer enums,
// lowerCamelCase keys, int64 as strings, unknown fields ignored.
const specJSON = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
 "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},"logRecords":[
  {"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000","severityNumber":10,"severityText":"Information",
   "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","futureField":{"x":1},
   "body":{"stringValue":"Example log record"},
   "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},{"key":"int.attribute","value":{"intValue":"10"}},
    {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}}]},
  {"timeUnixNano":"1544712660300000000","severityNumber":17,"attributes":[{"key":"k","value":{"stringValue":"v"}}]},
  {"observedTimeUnixNano":"1544712661000000000","severityNumber":0,"severityText":"ERROR","body":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}}
 ]}]}]}`

func TestRawJSONAndPartialSuccess(t *testing.T) {
	in, sink := start(t, nil)
	for _, gz := range []bool{false, true} {
		resp, out := post(t, in.URL(), "application/json", []byte(specJSON), gz)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
		}
		var ans struct {
			PartialSuccess struct {
				RejectedLogRecords string `json:"rejectedLogRecords"`
				ErrorMessage       string `json:"errorMessage"`
			} `json:"partialSuccess"`
		}
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatal(err)
		}
		if ans.PartialSuccess.RejectedLogRecords != "1" || !strings.Contains(ans.PartialSuccess.ErrorMessage, "log_records[1]: no body") {
			t.Fatalf("partial success %s", out)
		}
	}
	es := sink.Wait(t, 4)
	e := es[0]
	if e.Payload != "Example log record" || e.Source != "my.service" || e.LogLevel != 6 || e.Timestamp != "2018-12-13T14:51:00.3Z" {
		t.Errorf("entry %+v", e)
	}
	for k, v := range map[string]string{"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
		"string.attribute": "some string", "int.attribute": "10", "array.attribute": `["many","values"]`, "otel.scope.name": "my.library"} {
		if e.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, e.Metadata[k], v)
		}
	}
	if es[1].Payload != `{"a":true}` || es[1].PayloadType != "generic_json" || es[1].LogLevel != 4 || es[1].Timestamp != "2018-12-13T14:51:01Z" {
		t.Errorf("kvlist body, text severity, observed time: %+v", es[1])
	}
	if n := in.ctr.Rejected("invalid"); n != 2 {
		t.Errorf("rejected %d", n)
	}
}

func TestProtobufAnswerAndRefusals(t *testing.T) {
	in, sink := start(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	var req collpb.ExportLogsServiceRequest
	if err := unmarshal([]byte(specJSON), jsonBody, &req); err != nil {
		t.Fatal(err)
	}
	pb, _ := proto.Marshal(&req)
	resp, out := post(t, in.URL(), "application/x-protobuf", pb, false)
	var ans collpb.ExportLogsServiceResponse
	if resp.StatusCode != 200 || proto.Unmarshal(out, &ans) != nil || ans.GetPartialSuccess().GetRejectedLogRecords() != 1 {
		t.Fatalf("protobuf: %d %v", resp.StatusCode, ans.String())
	}
	sink.Wait(t, 2)

	for _, tc := range []struct {
		name, ct string
		body     []byte
		gz       bool
		want     int
	}{
		{"garbage", "application/x-protobuf", []byte("\xff\xff\xff not protobuf"), false, 400},
		{"bad json", "application/json", []byte(`{"resourceLogs":[`), false, 400},
		{"bad hex id", "application/json", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz","body":{"stringValue":"x"}}]}]}]}`), false, 400},
		{"too large", "application/json", bytes.Repeat([]byte(" "), 5000), false, 413},
		{"too large once unzipped", "application/json", bytes.Repeat([]byte(" "), 50000), true, 413},
		{"other type", "text/plain", []byte("hello"), false, 415},
	} {
		resp, out := post(t, in.URL(), tc.ct, tc.body, tc.gz)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.want, out)
		}
	}
	if n := len(sink.Entries(t)); n != 2 {
		t.Fatalf("%d entries after refused requests", n)
	}
	if r, _ := http.Get(in.URL()); r.StatusCode != 405 {
		t.Errorf("GET: %d", r.StatusCode)
	}
}

// A full queue is a 429 with Retry-After, and nothing of the request is
// taken: the client's retry does not duplicate.
func TestQueueFullIs429(t *testing.T) {
	in, sink := start(t, func(c *Config) { c.RetryAfter = 7 * time.Second })
	sink.Refuse.Store(true)
	resp, out := post(t, in.URL(), "application/json", []byte(specJSON), false)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(out), "queue is full") {
		t.Fatalf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
	sink.Refuse.Store(false)
	if resp, _ := post(t, in.URL(), "application/json", []byte(specJSON), false); resp.StatusCode != 200 {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(sink.Entries(t)); n != 2 {
		t.Fatalf("%d entries, want the 2 of one request", n)
	}
}

func TestReloadMovesAddress(t *testing.T) {
	in, sink := start(t, nil)
	oldURL := in.URL()
	c := Factory{}.NewConfig().(*Config)
	c.HTTPAddress = "127.0.0.1:0"
	c.Source = "renamed"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// The same address text: the listener stays, the source changes.
	apply, _, err := in.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	apply()
	if in.URL() != oldURL {
		t.Fatalf("listener moved: %s → %s", oldURL, in.URL())
	}
	post(t, in.URL(), "application/json", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`), false)
	if e := sink.Wait(t, 1)[0]; e.Source != "renamed" {
		t.Fatalf("source %q", e.Source)
	}
	c2 := *c
	c2.HTTPAddress = "127.0.0.2:0"
	apply, _, err = in.Prepare(&c2)
	if err != nil {
		t.Skip("127.0.0.2 not available:", err)
	}
	apply()
	if in.URL() == oldURL {
		t.Fatal("listener not moved")
	}
	if resp, _ := post(t, in.URL(), "application/json", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"y"}}]}]}]}`), false); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	sink.Wait(t, 2)
}
