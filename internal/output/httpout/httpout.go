// Package httpout is the output that sends batches of entries to any HTTP endpoint, as NDJSON or a JSON array, the escape hatch for backends without an output of their own.
package httpout

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// Config is an http output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	URL           string            `yaml:"url"`
	Method        string            `yaml:"method"`      // POST (default) or PUT
	Format        string            `yaml:"format"`      // ndjson (default) or json_array
	Compression   string            `yaml:"compression"` // none (default), gzip or zstd
	Headers       map[string]string `yaml:"headers"`
	// Basic authentication, or a bearer token; secrets inline or in files.
	remote.BasicAuth `yaml:",inline"`
	BearerToken      string `yaml:"bearer_token"`
	BearerTokenFile  string `yaml:"bearer_token_file"`
	// MaxRequestBytes splits a batch whose body would be larger.
	MaxRequestBytes component.ByteSize `yaml:"max_request_bytes"`
}

// Finish has nothing to fill in.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.Common.Validate(&ps)
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Add("url", "%q is not an http:// or https:// URL", c.URL)
	}
	if c.Method != http.MethodPost && c.Method != http.MethodPut {
		ps.Add("method", "%q is not POST or PUT", c.Method)
	}
	if c.Format != "ndjson" && c.Format != "json_array" {
		ps.Add("format", "%q is not ndjson or json_array", c.Format)
	}
	remote.CheckCompression(&ps, c.Compression, remote.Compressions)
	c.BasicAuth.Validate(&ps)
	remote.CheckSecret(&ps, "bearer_token", c.BearerToken, c.BearerTokenFile)
	if c.Username != "" && (c.BearerToken != "" || c.BearerTokenFile != "") {
		ps.Add("bearer_token", "set username/password or bearer_token, not both")
	}
	if c.MaxRequestBytes < 4096 {
		ps.Add("max_request_bytes", "must be at least 4KiB")
	}
	return ps.Err()
}

// Factory makes http outputs: `type: http` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "http".
func (Factory) Type() string { return "http" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{Common: remote.DefaultCommon(), Method: http.MethodPost, Format: "ndjson", Compression: "none", MaxRequestBytes: 8 << 20}
}

// New builds the output; it connects on its first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}

// Output sends batches to one URL.
type Output struct {
	name   string
	cfg    *Config
	client *http.Client
	req    remote.Post
	memo   remote.Memo
	zbuf   []byte
}

var _ output.Tuned = (*Output)(nil)

// New builds an output from a validated configuration.
func New(cfg *Config, set component.Settings) (*Output, error) {
	client, err := cfg.HTTPClient()
	if err != nil {
		return nil, err
	}
	contentType := "application/x-ndjson"
	if cfg.Format == "json_array" {
		contentType = "application/json"
	}
	o := &Output{name: set.Name, cfg: cfg, client: client, req: remote.Post{Method: cfg.Method, URL: cfg.URL,
		ContentType: contentType, Compression: cfg.Compression, Headers: cfg.Headers, Retryable: remote.HTTPRetryable}}
	switch {
	case cfg.Username != "":
		if o.req.Auth, err = cfg.BasicAuth.Auth(); err != nil {
			return nil, err
		}
	case cfg.BearerToken != "" || cfg.BearerTokenFile != "":
		tok, err := remote.Secret(cfg.BearerToken, cfg.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		o.req.Auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	return o, nil
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// Close releases idle connections.
func (o *Output) Close(context.Context) error { o.client.CloseIdleConnections(); return nil }

type item struct {
	id  string
	rec []byte
}

// Write sends the records (each one normalised entry, as the file output
// writes them) not yet delivered in an earlier attempt at this batch.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	ids, todo := remote.Pending(&o.memo, records, func(r []byte) (item, string, error) {
		id, err := record.ID(r)
		return item{id, r}, id, err
	})
	delivered := 0
	req := remote.Request[item]{ID: func(it item) string { return it.id }, Encode: o.encode, Post: o.post, MaxBytes: int(o.cfg.MaxRequestBytes)}
	err := remote.SendHalving(ctx, &o.memo, req, todo, &delivered)
	return o.memo.End(err, delivered, ids)
}

func (o *Output) encode(items []item) ([]byte, error) {
	var b bytes.Buffer
	if o.cfg.Format == "json_array" {
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(it.rec)
		}
		b.WriteByte(']')
		return b.Bytes(), nil
	}
	for _, it := range items {
		b.Write(it.rec)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func (o *Output) post(ctx context.Context, body []byte) error {
	_, err := o.req.Do(ctx, o.client, &o.zbuf, body)
	return err
}
