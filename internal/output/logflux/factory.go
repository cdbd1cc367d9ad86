package logflux

import (
	"strings"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
)

// Factory makes logflux outputs: `type: logflux` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "logflux".
func (Factory) Type() string { return "logflux" }

// NewConfig returns a configuration with nothing set: an empty key is taken
// from LOGFLUX_API_KEY by Finish, and the other defaults apply in New.
func (Factory) NewConfig() component.Config { return &Config{} }

// Finish takes the API key from LOGFLUX_API_KEY when the section sets none.
func (c *Config) Finish(env component.Env) {
	if c.APIKey == "" && c.APIKeyFile == "" && env.Getenv != nil {
		c.APIKey = strings.TrimSpace(env.Getenv(EnvAPIKey))
	}
}

// New builds the output; its counters are published on /metrics.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	c := *cfg.(*Config)
	c.Name, c.Logger = set.Name, set.Log
	o, err := New(c)
	if err != nil {
		return nil, err
	}
	m := set.Metrics
	m.Func("requests", "Ingest requests sent.", component.Counter, o.Counters.Requests.Load)
	m.Func("entries_accepted", "Entries the LogFlux service accepted.", component.Counter, o.Counters.Entries.Load)
	m.Func("entries_refused", "Entries given up as permanently refused.", component.Counter, o.Counters.Refused.Load)
	m.Func("handshakes", "Sessions established (RSA handshakes).", component.Counter, o.Counters.Handshakes.Load)
	m.Func("failures", "Failed requests, handshakes included.", component.Counter, o.Counters.Failures.Load)
	return o, nil
}
