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
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	PasswordFile    string `yaml:"password_file"`
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
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
	remote.CheckSecret(&ps, "password", c.Password, c.PasswordFile)
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
	auth   func(*http.Request)
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
	o := &Output{name: set.Name, cfg: cfg, client: client, auth: func(*http.Request) {}}
	switch {
	case cfg.Username != "":
		pw, err := remote.Secret(cfg.Password, cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		o.auth = func(r *http.Request) { r.SetBasicAuth(cfg.Username, pw) }
	case cfg.BearerToken != "" || cfg.BearerTokenFile != "":
		tok, err := remote.Secret(cfg.BearerToken, cfg.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		o.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
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
	ids := make([]string, len(records))
	var todo []item
	for i, r := range records {
		id, err := record.ID(r)
		if err != nil {
			ids[i] = fmt.Sprintf("unreadable-%d", i)
			o.memo.MarkRefused(ids[i], err)
			continue
		}
		ids[i] = id
		if o.memo.Pending(id) {
			todo = append(todo, item{id, r})
		}
	}
	delivered := 0
	req := remote.Request[item]{ID: func(it item) string { return it.id }, Encode: o.encode, Post: o.post, MaxBytes: int(o.cfg.MaxRequestBytes)}
	if err := remote.SendHalving(ctx, &o.memo, req, todo, &delivered); err != nil {
		return o.memo.Retry(err, delivered)
	}
	return o.memo.Outcome(ids)
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
	var enc string
	o.zbuf, enc = remote.Compress(o.zbuf, body, o.cfg.Compression)
	req, err := http.NewRequestWithContext(ctx, o.cfg.Method, o.cfg.URL, bytes.NewReader(o.zbuf))
	if err != nil {
		return output.Permanent(err)
	}
	if o.cfg.Format == "json_array" {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	req.Header.Set("User-Agent", "logflux-agent")
	for k, v := range o.cfg.Headers {
		req.Header.Set(k, v)
	}
	o.auth(req)
	ans, err := remote.Do(o.client, req)
	if err != nil {
		return err
	}
	return ans.Classify(remote.HTTPRetryable)
}
