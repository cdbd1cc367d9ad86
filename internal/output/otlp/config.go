package otlp

import (
	"net/url"
	"strings"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
)

// Defaults of an otlp output's configuration.
const (
	DefaultEndpoint = "http://127.0.0.1:4318"
	LogsPath        = "/v1/logs"
	// DefaultMaxRequestBytes keeps every request body (before compression)
	// below the 4 MiB that gRPC and many HTTP front ends refuse.
	DefaultMaxRequestBytes = 3 << 20
)

// Config is an otlp output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	// Endpoint is the receiver's URL; /v1/logs is appended when it has no
	// path.
	Endpoint string `yaml:"endpoint"`
	// Encoding is protobuf (default) or json.
	Encoding string `yaml:"encoding"`
	// Compression is gzip (default) or none.
	Compression string `yaml:"compression"`
	// Headers are sent with every request (an API key, a tenant).
	Headers map[string]string `yaml:"headers"`
	// Resource attributes added to every source's resource.
	Resource map[string]string `yaml:"resource"`
	// MaxRequestBytes splits a batch whose encoded body would be larger.
	MaxRequestBytes component.ByteSize `yaml:"max_request_bytes"`
}

// Finish has nothing to fill in.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.Common.Validate(&ps)
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Add("endpoint", "%q is not an http:// or https:// URL", c.Endpoint)
	}
	if c.Encoding != "protobuf" && c.Encoding != "json" {
		ps.Add("encoding", "%q is not protobuf or json", c.Encoding)
	}
	remote.CheckCompression(&ps, c.Compression, []string{"gzip", "none"})
	if c.MaxRequestBytes < 64<<10 {
		ps.Add("max_request_bytes", "must be at least 64KiB")
	}
	return ps.Err()
}

// URL is the endpoint with the logs path.
func (c *Config) URL() string {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return c.Endpoint
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = LogsPath
	}
	return strings.TrimSuffix(u.String(), "?")
}

// Factory makes otlp outputs: `type: otlp` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "otlp".
func (Factory) Type() string { return "otlp" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{Common: remote.DefaultCommon(), Endpoint: DefaultEndpoint, Encoding: "protobuf",
		Compression: "gzip", MaxRequestBytes: DefaultMaxRequestBytes}
}

// New builds the output; it connects on its first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}
