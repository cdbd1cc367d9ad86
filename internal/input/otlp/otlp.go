// Package otlp is the OTLP logs receiver: OTLP/HTTP (protobuf or JSON, optionally gzipped) on POST /v1/logs, each log record turned into an entry, answered only once the entries are durable in the queue.
//
// Mapping: the body becomes the payload (a string as it is; any other value
// as JSON with payloadType generic_json); SeverityNumber becomes logLevel
// by otel.Level (SeverityText when the number is unset); time_unix_nano,
// else observed_time_unix_nano, the timestamp; the resource's service.name
// the source; the record's attributes, then the resource's, then the scope's
// name and version, trace_id and span_id (hex) the metadata, values as
// strings (non-strings as JSON). A record with neither body nor event name
// is refused and named in partial_success.
//
// Answers follow the OTLP specification: 200 with partial_success when
// some records were refused; 400 (with a google.rpc.Status) for a body
// that cannot be read; 413 over max_body_bytes; 415 for another content
// type; 429 with Retry-After when the queue is full (nothing of the request
// was taken, the client retries); 503 with Retry-After when stopping or
// when the queue cannot make the entries durable.
//
// gRPC (port 4317) is not served: it needs google.golang.org/grpc, which
// would add several megabytes to the agent (docs/configuration.md).
package otlp

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/entrybuild"
	"github.com/logflux/agent/internal/otel"
	"github.com/logflux/agent/internal/queue"
)

// Type is the input type's name in configurations.
const Type = "otlp"

// Path is where logs are posted.
const Path = "/v1/logs"

// Factory makes OTLP receivers.
type Factory struct{}

var _ input.Factory = Factory{}

// Type is "otlp".
func (Factory) Type() string { return Type }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config { return defaults() }

// New builds the receiver without listening.
func (Factory) New(cfg component.Config, set component.Settings) (input.Input, error) {
	c := *cfg.(*Config)
	in := &Input{name: set.Name, log: set.Log, maxAppend: set.MaxAppendBytes, filter: set.Filter}
	if in.log == nil {
		in.log = slog.Default()
	}
	in.cfg.Store(&c)
	in.base, in.cancelBase = context.WithCancel(context.Background())
	m := set.Metrics
	in.ctr.Register(m, "OTLP log records received.")
	m.Func("requests", "Export requests received.", component.Counter, in.requests.Load)
	m.Func("requests_throttled", "Export requests answered 429 or 503 (queue full, stopping).", component.Counter, in.throttled.Load)
	m.Func("requests_bad", "Export requests answered 400, 405, 413 or 415.", component.Counter, in.bad.Load)
	return in, nil
}

// Input is one OTLP receiver.
type Input struct {
	name      string
	log       *slog.Logger
	maxAppend int
	filter    component.EntryFilter // the agent's redaction rules
	cfg       atomic.Pointer[Config]
	sink      input.Sink
	builders  sync.Pool
	// base is every request's context; Shutdown ends it when its own
	// deadline passes, so a request waiting for queue room gives up.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	served   sync.WaitGroup
	stopping atomic.Bool

	ctr       entrybuild.Counters
	requests  atomic.Int64
	throttled atomic.Int64
	bad       atomic.Int64
}

var (
	_ input.Input          = (*Input)(nil)
	_ input.Reconfigurer   = (*Input)(nil)
	_ input.StatusReporter = (*Input)(nil)
)

// Name returns the receiver's name.
func (in *Input) Name() string { return in.name }

// Counters are the receiver's entry counters.
func (in *Input) Counters() *entrybuild.Counters { return &in.ctr }

// Start listens and serves.
func (in *Input) Start(_ context.Context, sink input.Sink) error {
	ln, err := net.Listen("tcp", in.cfg.Load().HTTPAddress)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.sink = sink
	in.serve(ln)
	return nil
}

// serve serves ln, replacing the current server. Called with in.mu held.
func (in *Input) serve(ln net.Listener) {
	old := in.srv
	mux := http.NewServeMux()
	mux.HandleFunc(Path, in.handle)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return in.base },
		ErrorLog:    slog.NewLogLogger(in.log.Handler(), slog.LevelWarn)}
	in.srv, in.ln = srv, ln
	in.served.Add(1)
	go func() {
		defer in.served.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.log.Error("OTLP receiver stopped", "error", err)
		}
	}()
	if old != nil {
		go func() { // requests in flight finish on the old server
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old.Shutdown(ctx)
		}()
	}
	in.log.Info("listening", "address", "http://"+ln.Addr().String()+Path)
}

// URL is where the receiver takes logs.
func (in *Input) URL() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ln == nil {
		return ""
	}
	return "http://" + in.ln.Addr().String() + Path
}

// encoding is a request's body format.
type encoding int

const (
	protoBody encoding = iota
	jsonBody
)

func (e encoding) contentType() string {
	if e == jsonBody {
		return "application/json"
	}
	return "application/x-protobuf"
}

func (in *Input) handle(w http.ResponseWriter, r *http.Request) {
	in.requests.Add(1)
	c := in.cfg.Load()
	if r.Method != http.MethodPost {
		in.bad.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP logs are POSTed", http.StatusMethodNotAllowed)
		return
	}
	enc := protoBody
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/x-protobuf", "application/protobuf":
	case "application/json":
		enc = jsonBody
	default:
		in.bad.Add(1)
		http.Error(w, "Content-Type must be application/x-protobuf or application/json", http.StatusUnsupportedMediaType)
		return
	}
	if in.stopping.Load() {
		in.refuse(w, enc, http.StatusServiceUnavailable, "the agent is stopping")
		return
	}
	body, status, err := readBody(r, int64(c.MaxBodyBytes))
	if err != nil {
		in.bad.Add(1)
		in.ctr.Reject(entrybuild.ReasonDecode, 1)
		writeStatus(w, enc, status, err.Error())
		return
	}
	in.ctr.Bytes.Add(int64(len(body)))
	var req collpb.ExportLogsServiceRequest
	if err := unmarshal(body, enc, &req); err != nil {
		in.bad.Add(1)
		in.ctr.Reject(entrybuild.ReasonDecode, 1)
		writeStatus(w, enc, http.StatusBadRequest, "the body is not an OTLP ExportLogsServiceRequest: "+err.Error())
		return
	}
	b, _ := in.builders.Get().(*entrybuild.Builder)
	if b == nil {
		b = entrybuild.New(in.name, in.maxAppend, in.filter)
	}
	defer func() { b.Reset(); in.builders.Put(b) }()
	resp, status, msg := in.export(r.Context(), b, &req, c)
	if status != http.StatusOK {
		in.refuse(w, enc, status, msg)
		return
	}
	out, _ := marshal(resp, enc)
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// refuse answers a retryable refusal.
func (in *Input) refuse(w http.ResponseWriter, enc encoding, status int, msg string) {
	in.throttled.Add(1)
	w.Header().Set("Retry-After", strconv.Itoa(int(in.cfg.Load().RetryAfter/time.Second)))
	writeStatus(w, enc, status, msg)
}

// export turns the request's records into entries, appends them and waits
// until they are durable.
func (in *Input) export(ctx context.Context, b *entrybuild.Builder, req *collpb.ExportLogsServiceRequest, c *Config) (*collpb.ExportLogsServiceResponse, int, string) {
	b.Received(time.Now())
	var rejected int64
	var problems []string
	total := 0
	appended := 0
	flush := func() (int, string) {
		n := b.Len()
		var err error
		if appended == 0 {
			err = b.Append(ctx, in.sink) // nothing taken yet: a full queue is a 429
		} else {
			err = b.AppendWaiting(ctx, in.sink, nil) // part taken: wait rather than have it sent twice
		}
		switch {
		case err == nil:
			appended += n
			in.ctr.Accepted.Add(int64(n))
			return http.StatusOK, ""
		case errors.Is(err, queue.ErrFull):
			in.ctr.Reject(entrybuild.ReasonQueueFull, int64(n))
			return http.StatusTooManyRequests, "the agent's queue is full; retry later"
		default:
			in.ctr.Reject(entrybuild.ReasonQueueFull, int64(n))
			return http.StatusServiceUnavailable, "the agent's queue did not take the records: " + err.Error()
		}
	}
	for ri, rl := range req.GetResourceLogs() {
		var resAttrs []entrybuild.KV
		source := c.Source
		for _, kv := range rl.GetResource().GetAttributes() {
			v := otel.Text(kv.GetValue())
			if kv.GetKey() == "service.name" && v != "" {
				source = v
			}
			resAttrs = append(resAttrs, entrybuild.KV{Key: kv.GetKey(), Value: v})
		}
		for si, sl := range rl.GetScopeLogs() {
			scope := sl.GetScope()
			for li, lr := range sl.GetLogRecords() {
				total++
				in.ctr.Read.Add(1)
				f := entrybuild.Fields{Source: source, LogLevel: otel.Level(int32(lr.GetSeverityNumber()), lr.GetSeverityText())}
				switch body := lr.GetBody(); body.GetValue().(type) {
				case *commonpb.AnyValue_StringValue, nil:
					f.Payload = body.GetStringValue()
				default:
					f.Payload, f.PayloadType = otel.Text(body), "generic_json"
				}
				if f.Payload == "" {
					f.Payload = lr.GetEventName()
				}
				if f.Payload == "" {
					rejected++
					in.ctr.Reject(entrybuild.ReasonInvalid, 1)
					if len(problems) < 10 {
						problems = append(problems, fmt.Sprintf("resource_logs[%d].scope_logs[%d].log_records[%d]: no body", ri, si, li))
					}
					continue
				}
				switch {
				case lr.GetTimeUnixNano() > 0:
					f.Time = time.Unix(0, int64(lr.GetTimeUnixNano()))
				case lr.GetObservedTimeUnixNano() > 0:
					f.Time = time.Unix(0, int64(lr.GetObservedTimeUnixNano()))
				}
				for _, kv := range lr.GetAttributes() {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: kv.GetKey(), Value: otel.Text(kv.GetValue())})
				}
				f.Metadata = append(f.Metadata, resAttrs...)
				if n := scope.GetName(); n != "" {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: "otel.scope.name", Value: n})
				}
				if v := scope.GetVersion(); v != "" {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: "otel.scope.version", Value: v})
				}
				if id := lr.GetTraceId(); len(id) > 0 {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: "trace_id", Value: hex.EncodeToString(id)})
				}
				if id := lr.GetSpanId(); len(id) > 0 {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: "span_id", Value: hex.EncodeToString(id)})
				}
				if n := lr.GetEventName(); n != "" {
					f.Metadata = append(f.Metadata, entrybuild.KV{Key: "event.name", Value: n})
				}
				truncated, err := b.Add(&f)
				if truncated {
					in.ctr.Truncated.Add(1)
				}
				if err != nil {
					rejected++
					in.ctr.Reject(entrybuild.ReasonInvalid, 1)
					if len(problems) < 10 {
						problems = append(problems, fmt.Sprintf("resource_logs[%d].scope_logs[%d].log_records[%d]: %v", ri, si, li, err))
					}
				}
				if b.Full() {
					if status, msg := flush(); status != http.StatusOK {
						return nil, status, msg
					}
				}
			}
		}
	}
	if status, msg := flush(); status != http.StatusOK {
		return nil, status, msg
	}
	if appended > 0 {
		if err := in.sink.Sync(ctx); err != nil {
			return nil, http.StatusServiceUnavailable, "the agent's queue could not make the records durable: " + err.Error()
		}
	}
	resp := &collpb.ExportLogsServiceResponse{}
	if rejected > 0 {
		msg := strings.Join(problems, "; ")
		if int(rejected) > len(problems) {
			msg += fmt.Sprintf(" (and %d more)", int(rejected)-len(problems))
		}
		resp.PartialSuccess = &collpb.ExportLogsPartialSuccess{RejectedLogRecords: rejected, ErrorMessage: msg}
	}
	return resp, http.StatusOK, ""
}

// readBody reads the body, undoing gzip, at most max bytes either way.
func readBody(r *http.Request, max int64) ([]byte, int, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, max)
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not gzip: %w", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not supported; use gzip or none", ce)
	}
	body, err := io.ReadAll(io.LimitReader(rd, max+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || int64(len(body)) > max:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", max)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	return body, http.StatusOK, nil
}

func unmarshal(body []byte, enc encoding, req *collpb.ExportLogsServiceRequest) error {
	if enc == protoBody {
		return proto.Unmarshal(body, req)
	}
	body, err := hexIDsToBase64(body)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, req)
}

func marshal(resp *collpb.ExportLogsServiceResponse, enc encoding) ([]byte, error) {
	if enc == protoBody {
		return proto.Marshal(resp)
	}
	return protojson.MarshalOptions{UseProtoNames: false}.Marshal(resp)
}

// hexIDsToBase64 rewrites the traceId and spanId of OTLP/JSON log records,
// which the OTLP specification writes in hex, into the base64 protojson
// reads for bytes fields. Bodies without them are returned as they are.
func hexIDsToBase64(body []byte) ([]byte, error) {
	if !strings.Contains(string(body), "traceId") && !strings.Contains(string(body), "spanId") &&
		!strings.Contains(string(body), "trace_id") && !strings.Contains(string(body), "span_id") {
		return body, nil
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	for _, rl := range list(doc, "resourceLogs", "resource_logs") {
		for _, sl := range list(rl, "scopeLogs", "scope_logs") {
			for _, lr := range list(sl, "logRecords", "log_records") {
				for _, k := range []string{"traceId", "spanId", "trace_id", "span_id"} {
					s, ok := lr[k].(string)
					if !ok || s == "" {
						continue
					}
					id, err := hex.DecodeString(s)
					if err != nil {
						return nil, fmt.Errorf("%s %q is not hex", k, s)
					}
					lr[k] = base64.StdEncoding.EncodeToString(id)
				}
			}
		}
	}
	return json.Marshal(doc)
}

// list returns the objects of the array under either key of m.
func list(m map[string]any, keys ...string) []map[string]any {
	for _, k := range keys {
		arr, ok := m[k].([]any)
		if !ok {
			continue
		}
		out := make([]map[string]any, 0, len(arr))
		for _, e := range arr {
			if o, ok := e.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

// writeStatus answers with a google.rpc.Status {code, message}, as the
// OTLP specification asks of failures.
func writeStatus(w http.ResponseWriter, enc encoding, status int, msg string) {
	code := int64(3) // INVALID_ARGUMENT
	switch status {
	case http.StatusTooManyRequests:
		code = 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		code = 14 // UNAVAILABLE
	}
	var out []byte
	if enc == jsonBody {
		out, _ = json.Marshal(map[string]any{"code": code, "message": msg})
	} else {
		out = protowire.AppendTag(out, 1, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(code))
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendString(out, msg)
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(status)
	w.Write(out)
}

// Prepare listens on a new address when http_address changed (see
// input.Reconfigurer); other changes apply to the next request.
func (in *Input) Prepare(cfg component.Config) (apply, discard func(), err error) {
	c := cfg.(*Config)
	var ln net.Listener
	if c.HTTPAddress != in.cfg.Load().HTTPAddress {
		if ln, err = net.Listen("tcp", c.HTTPAddress); err != nil {
			return nil, nil, fmt.Errorf("otlp: %w", err)
		}
	}
	apply = func() {
		in.cfg.Store(c)
		if ln == nil {
			return
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.stopping.Load() {
			ln.Close()
			return
		}
		in.serve(ln)
	}
	discard = func() {
		if ln != nil {
			ln.Close()
		}
	}
	return apply, discard, nil
}

// Status shows the URL and the counters.
func (in *Input) Status() input.Status {
	st := input.Status{Figures: in.ctr.Figures()}
	if u := in.URL(); u != "" {
		st.Listeners = []string{u}
	}
	st.Figures["requests"] = in.requests.Load()
	st.Figures["requests_throttled"] = in.throttled.Load()
	return st
}

// Shutdown stops accepting, lets requests in flight finish (their entries
// are appended and synced before they are answered) and returns when they
// have or ctx ends.
func (in *Input) Shutdown(ctx context.Context) error {
	in.stopping.Store(true)
	in.mu.Lock()
	srv := in.srv
	in.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	in.cancelBase()
	if err != nil {
		srv.Close()
	}
	in.served.Wait()
	if err != nil {
		return fmt.Errorf("input %s: %w", in.name, err)
	}
	return nil
}
