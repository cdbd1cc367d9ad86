package elasticsearch

import (
	"net/url"
	"strings"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
)

// Config is an elasticsearch output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	// Endpoints are the cluster's URLs, used in turn; one that fails is
	// passed over for a while.
	Endpoints []string `yaml:"endpoints"`
	// Mode is bulk (default: index names from Index) or data_stream
	// (Index is the data stream's name).
	Mode string `yaml:"mode"`
	// Index is the index name, with the entry's date: %Y, %m, %d (default
	// logs-%Y.%m.%d), or the data stream's name.
	Index string `yaml:"index"`
	// Pipeline is an ingest pipeline to run (optional).
	Pipeline         string `yaml:"pipeline"`
	APIKey           string `yaml:"api_key"`
	APIKeyFile       string `yaml:"api_key_file"`
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
	if len(c.Endpoints) == 0 {
		ps.Add("endpoints", "at least one URL is required (e.g. http://127.0.0.1:9200)")
	}
	for i, e := range c.Endpoints {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("endpoints["+itoa(i)+"]", "%q is not an http:// or https:// URL", e)
		}
	}
	switch c.Mode {
	case "bulk":
		if c.Index == "" {
			ps.Add("index", "is required")
		}
	case "data_stream":
		if c.Index == "" || strings.Contains(c.Index, "%") {
			ps.Add("index", "must name the data stream (no date patterns) in data_stream mode")
		}
	default:
		ps.Add("mode", "%q is not bulk or data_stream", c.Mode)
	}
	bare := strings.NewReplacer("%Y", "", "%m", "", "%d", "").Replace(c.Index)
	if strings.ContainsAny(bare, "% \"*\\/?<>|,#") {
		ps.Add("index", "%q has a character an index name cannot have, or a pattern other than %%Y, %%m, %%d", c.Index)
	}
	if bare != strings.ToLower(bare) {
		ps.Add("index", "%q must be lowercase", c.Index)
	}
	remote.CheckSecret(&ps, "api_key", c.APIKey, c.APIKeyFile)
	c.BasicAuth.Validate(&ps)
	if (c.APIKey != "" || c.APIKeyFile != "") && c.Username != "" {
		ps.Add("api_key", "set api_key or username/password, not both")
	}
	remote.CheckCompression(&ps, c.Compression, []string{"gzip", "none"})
	if c.MaxRequestBytes < 64<<10 {
		ps.Add("max_request_bytes", "must be at least 64KiB")
	}
	return ps.Err()
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// Factory makes elasticsearch outputs: `type: elasticsearch` (also for
// OpenSearch).
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "elasticsearch".
func (Factory) Type() string { return "elasticsearch" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{Common: remote.DefaultCommon(), Mode: "bulk", Index: "logs-%Y.%m.%d", Compression: "gzip", MaxRequestBytes: 8 << 20}
}

// New builds the output; it connects on its first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}
