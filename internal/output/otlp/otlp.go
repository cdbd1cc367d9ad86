// Package otlp is the output that sends entries to an OpenTelemetry logs receiver over OTLP/HTTP (protobuf or JSON), one resource per source.
package otlp

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync/atomic"

	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/slim/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/slim/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/otel"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// Attribute names the entry's own fields are sent under.
const (
	AttrID          = "logflux.id"
	AttrSource      = "logflux.source"
	AttrEntryType   = "logflux.entry_type"
	AttrPayloadType = "logflux.payload_type"
	AttrInput       = "logflux.input"
	ScopeName       = "logflux-agent"
)

// Output sends batches to one OTLP/HTTP logs endpoint.
type Output struct {
	name    string
	cfg     *Config
	client  *http.Client
	host    string
	log     *slog.Logger
	memo    remote.Memo
	req     remote.Post
	zbuf    []byte
	wire    *wireEncoder  // protobuf requests
	partial *atomic.Int64 // records the receiver reported rejected in a partial success
	refused *atomic.Int64
}

var (
	_ output.Output = (*Output)(nil)
	_ output.Tuned  = (*Output)(nil)
)

// New builds an output from a validated configuration.
func New(cfg *Config, set component.Settings) (*Output, error) {
	client, err := cfg.HTTPClient()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	log := set.Log
	if log == nil {
		log = slog.Default()
	}
	contentType := "application/x-protobuf"
	if cfg.Encoding == "json" {
		contentType = "application/json"
	}
	return &Output{
		name: set.Name, cfg: cfg, client: client, host: host, log: log, wire: newWireEncoder(host, cfg.Resource),
		req:     remote.Post{URL: cfg.URL(), ContentType: contentType, Compression: cfg.Compression, Headers: cfg.Headers, Retryable: remote.OTLPRetryable},
		partial: set.Metrics.Counter("partial_rejected_records", "Records an OTLP receiver reported rejected in a partial success (it does not say which)."),
		refused: set.Metrics.Counter("refused_requests", "Requests refused for good (400, 413 of a single entry, and other non-retryable answers)."),
	}, nil
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// Close releases idle connections.
func (o *Output) Close(context.Context) error {
	o.client.CloseIdleConnections()
	return nil
}

// Write sends the records not yet delivered in an earlier attempt at this
// batch, in requests below max_request_bytes, and returns once every one is
// delivered or refused for good (nil or a partial refusal), or when one
// request must be retried.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	ids, todo := remote.Pending(&o.memo, records, remote.ParseEntry)
	delivered := 0
	req := remote.Request[record.Entry]{
		ID:       func(e record.Entry) string { return e.ID },
		Encode:   o.encode,
		Post:     o.post,
		MaxBytes: int(o.cfg.MaxRequestBytes),
	}
	err := remote.SendHalving(ctx, &o.memo, req, todo, &delivered)
	return o.memo.End(err, delivered, ids)
}

func (o *Output) post(ctx context.Context, body []byte) error {
	ans, err := o.req.Do(ctx, o.client, &o.zbuf, body)
	if err != nil {
		if output.IsPermanent(err) {
			o.refused.Add(1)
		}
		return err
	}
	o.partialSuccess(ans)
	return nil
}

// partialSuccess counts and logs what a 200 answer says was rejected. The
// protocol does not say which records, so none can be dead-lettered.
func (o *Output) partialSuccess(ans *remote.Answer) {
	if len(ans.Body) == 0 {
		return
	}
	var resp collpb.ExportLogsServiceResponse
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(ans.Body), []byte("{")) {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(ans.Body, &resp)
	} else {
		err = proto.Unmarshal(ans.Body, &resp)
	}
	if err != nil || resp.PartialSuccess == nil {
		return
	}
	if n := resp.PartialSuccess.RejectedLogRecords; n > 0 {
		o.partial.Add(n)
		o.log.Warn("the OTLP receiver rejected records in a partial success", "rejected", n, "message", resp.PartialSuccess.ErrorMessage)
	}
}

// encode builds one export request: a ResourceLogs per source. The body
// is valid until the next call.
func (o *Output) encode(entries []record.Entry) ([]byte, error) {
	if o.cfg.Encoding == "json" {
		return protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(o.message(entries))
	}
	return o.wire.encode(entries), nil
}

// message builds the export request as protobuf structs (for the JSON
// encoding; the protobuf encoding writes the same message directly).
func (o *Output) message(entries []record.Entry) *collpb.ExportLogsServiceRequest {
	req := &collpb.ExportLogsServiceRequest{}
	bySource := map[string]*logspb.ScopeLogs{}
	var sources []string
	for i := range entries {
		e := &entries[i]
		sl := bySource[e.Source]
		if sl == nil {
			sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: ScopeName}}
			bySource[e.Source] = sl
			sources = append(sources, e.Source)
		}
		sl.LogRecords = append(sl.LogRecords, o.logRecord(e))
	}
	sort.Strings(sources)
	for _, s := range sources {
		attrs := []*commonpb.KeyValue{otel.KV("service.name", s)}
		if o.host != "" {
			attrs = append(attrs, otel.KV("host.name", o.host))
		}
		keys := make([]string, 0, len(o.cfg.Resource))
		for k := range o.cfg.Resource {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			attrs = append(attrs, otel.KV(k, o.cfg.Resource[k]))
		}
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
			Resource:  &resourcepb.Resource{Attributes: attrs},
			ScopeLogs: []*logspb.ScopeLogs{bySource[s]},
		})
	}
	return req
}

func (o *Output) logRecord(e *record.Entry) *logspb.LogRecord {
	num, text := otel.Severity(e.LogLevel)
	lr := &logspb.LogRecord{
		TimeUnixNano:         unixNano(e.Timestamp),
		ObservedTimeUnixNano: unixNano(e.ReceivedAt),
		SeverityNumber:       num,
		SeverityText:         text,
	}
	if e.PayloadType == "generic_json" {
		if body, ok := otel.JSONBody(e.Payload); ok {
			lr.Body = body
		}
	}
	if lr.Body == nil {
		lr.Body = otel.StringValue(e.Payload)
	}
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lr.Attributes = make([]*commonpb.KeyValue, 0, len(keys)+5)
	for _, k := range keys {
		lr.Attributes = append(lr.Attributes, otel.KV(k, e.Metadata[k]))
	}
	lr.Attributes = append(lr.Attributes,
		otel.KV(AttrID, e.ID),
		otel.KV(AttrSource, e.Source),
		&commonpb.KeyValue{Key: AttrEntryType, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(e.EntryType)}}},
		otel.KV(AttrPayloadType, e.PayloadType))
	if e.Input != "" {
		lr.Attributes = append(lr.Attributes, otel.KV(AttrInput, e.Input))
	}
	return lr
}
