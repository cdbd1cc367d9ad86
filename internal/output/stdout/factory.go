package stdout

import (
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
)

// Config is a stdout output's section: it has no keys of its own.
type Config struct{}

// Finish has nothing to fill in.
func (*Config) Finish(component.Env) {}

// Validate has nothing to check.
func (*Config) Validate() error { return nil }

// Factory makes stdout outputs: `type: stdout` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "stdout".
func (Factory) Type() string { return "stdout" }

// NewConfig returns the (empty) configuration.
func (Factory) NewConfig() component.Config { return &Config{} }

// New returns an output writing to the agent's standard output.
func (Factory) New(_ component.Config, set component.Settings) (output.Output, error) {
	return New(set.Name, nil), nil
}
