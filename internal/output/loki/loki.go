// Package loki is the output that pushes entries to Grafana Loki's push API as gzipped JSON, with labels chosen from the entry's fields and the rest of its metadata as structured metadata.
package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// Defaults of a loki output's configuration.
const (
	PushPath  = "/loki/api/v1/push"
	MaxLabels = 15
)

// DefaultLabels are the labels when none are configured.
var DefaultLabels = []string{"source", "level"}

// Config is a loki output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	// Endpoint is Loki's URL; /loki/api/v1/push is appended when it has
	// no path.
	Endpoint string `yaml:"endpoint"`
	// Labels are the entry fields that become stream labels: source,
	// level, entryType, payloadType and metadata.<key> (at most 15).
	Labels           []string `yaml:"labels"`
	TenantID         string   `yaml:"tenant_id"`
	remote.BasicAuth `yaml:",inline"`
	Compression      string `yaml:"compression"` // gzip (default) or none
	// MaxRequestBytes splits a batch whose body would be larger.
	MaxRequestBytes component.ByteSize `yaml:"max_request_bytes"`
}

// Finish has nothing to fill in.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.Common.Validate(&ps)
	if u, err := url.Parse(c.Endpoint); c.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Add("endpoint", "%q is not an http:// or https:// URL", c.Endpoint)
	}
	if len(c.Labels) > MaxLabels {
		ps.Add("labels", "%d labels; Loki's streams stay usable with at most %d", len(c.Labels), MaxLabels)
	}
	seen := map[string]bool{}
	for i, l := range c.Labels {
		key := fmt.Sprintf("labels[%d]", i)
		switch {
		case l == "source" || l == "level" || l == "entryType" || l == "payloadType":
		case strings.HasPrefix(l, "metadata.") && len(l) > len("metadata."):
		default:
			ps.Add(key, "%q is not source, level, entryType, payloadType or metadata.<key>", l)
			continue
		}
		if name := labelName(l); seen[name] {
			ps.Add(key, "%q gives the label name %s twice", l, name)
		} else {
			seen[name] = true
		}
	}
	c.BasicAuth.Validate(&ps)
	remote.CheckCompression(&ps, c.Compression, []string{"gzip", "none"})
	if c.MaxRequestBytes < 64<<10 {
		ps.Add("max_request_bytes", "must be at least 64KiB")
	}
	return ps.Err()
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// labelName is the Loki label a configured label is sent as:
// metadata.k8s.pod → k8s_pod.
func labelName(l string) string {
	l = strings.TrimPrefix(l, "metadata.")
	l = invalidLabelChars.ReplaceAllString(l, "_")
	if l == "" || (l[0] >= '0' && l[0] <= '9') {
		l = "_" + l
	}
	return l
}

// Factory makes loki outputs: `type: loki` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "loki".
func (Factory) Type() string { return "loki" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{Common: remote.DefaultCommon(), Endpoint: "http://127.0.0.1:3100", Labels: DefaultLabels, Compression: "gzip", MaxRequestBytes: 4 << 20}
}

// New builds the output; it connects on its first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}

// Output pushes batches to one Loki.
type Output struct {
	name   string
	cfg    *Config
	client *http.Client
	req    remote.Post
	labels []label
	memo   remote.Memo
	zbuf   []byte
}

type label struct {
	field string // as configured
	name  string // as sent
}

var _ output.Tuned = (*Output)(nil)

// New builds an output from a validated configuration.
func New(cfg *Config, set component.Settings) (*Output, error) {
	client, err := cfg.HTTPClient()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Endpoint)
	if u.Path == "" || u.Path == "/" {
		u.Path = PushPath
	}
	o := &Output{name: set.Name, cfg: cfg, client: client,
		req: remote.Post{URL: u.String(), ContentType: "application/json", Compression: cfg.Compression, Retryable: remote.HTTPRetryable}}
	if cfg.TenantID != "" {
		o.req.Headers = map[string]string{"X-Scope-OrgID": cfg.TenantID}
	}
	for _, l := range cfg.Labels {
		o.labels = append(o.labels, label{field: l, name: labelName(l)})
	}
	if o.req.Auth, err = cfg.BasicAuth.Auth(); err != nil {
		return nil, err
	}
	return o, nil
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// Close releases idle connections.
func (o *Output) Close(context.Context) error { o.client.CloseIdleConnections(); return nil }

// Write pushes the records not yet delivered in an earlier attempt at this
// batch.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	ids, todo := remote.Pending(&o.memo, records, remote.ParseEntry)
	delivered := 0
	req := remote.Request[record.Entry]{ID: func(e record.Entry) string { return e.ID }, Encode: o.encode, Post: o.post, MaxBytes: int(o.cfg.MaxRequestBytes)}
	err := remote.SendHalving(ctx, &o.memo, req, todo, &delivered)
	return o.memo.End(err, delivered, ids)
}

// levelNames are the level label's values.
var levelNames = [9]string{"unknown", "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

type stream struct {
	Stream map[string]string `json:"stream"`
	Values [][3]any          `json:"values"`
	ts     []int64
}

// encode groups entries into streams by their labels, each sorted by
// time (Loki refuses entries out of order within a stream).
func (o *Output) encode(entries []record.Entry) ([]byte, error) {
	streams := map[string]*stream{}
	var keys []string
	for i := range entries {
		e := &entries[i]
		lbls := make(map[string]string, len(o.labels))
		used := map[string]bool{}
		for _, l := range o.labels {
			var v string
			switch l.field {
			case "source":
				v = e.Source
			case "level":
				if e.LogLevel >= 1 && e.LogLevel <= 8 {
					v = levelNames[e.LogLevel]
				}
			case "entryType":
				v = strconv.Itoa(e.EntryType)
			case "payloadType":
				v = e.PayloadType
			default:
				k := strings.TrimPrefix(l.field, "metadata.")
				v = e.Metadata[k]
				used[k] = true
			}
			if v != "" {
				lbls[l.name] = v
			}
		}
		key := streamKey(lbls)
		s := streams[key]
		if s == nil {
			s = &stream{Stream: lbls}
			streams[key] = s
			keys = append(keys, key)
		}
		meta := map[string]string{"id": e.ID}
		for k, v := range e.Metadata {
			if !used[k] {
				meta[k] = v
			}
		}
		ts := unixNano(e.Timestamp)
		s.Values = append(s.Values, [3]any{strconv.FormatInt(ts, 10), e.Payload, meta})
		s.ts = append(s.ts, ts)
	}
	sort.Strings(keys)
	out := struct {
		Streams []*stream `json:"streams"`
	}{}
	for _, k := range keys {
		s := streams[k]
		sort.Stable(byTime{s})
		out.Streams = append(out.Streams, s)
	}
	return json.Marshal(out)
}

type byTime struct{ s *stream }

func (b byTime) Len() int           { return len(b.s.ts) }
func (b byTime) Less(i, j int) bool { return b.s.ts[i] < b.s.ts[j] }
func (b byTime) Swap(i, j int) {
	b.s.ts[i], b.s.ts[j] = b.s.ts[j], b.s.ts[i]
	b.s.Values[i], b.s.Values[j] = b.s.Values[j], b.s.Values[i]
}

func streamKey(l map[string]string) string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

func unixNano(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Now().UnixNano()
	}
	return t.UnixNano()
}

func (o *Output) post(ctx context.Context, body []byte) error {
	_, err := o.req.Do(ctx, o.client, &o.zbuf, body)
	return err
}
