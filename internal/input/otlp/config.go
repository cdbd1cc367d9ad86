package otlp

import (
	"net"
	"time"

	"github.com/logflux/agent/internal/component"
)

// Config is an OTLP receiver's configuration.
type Config struct {
	// HTTPAddress is where OTLP/HTTP is served (POST /v1/logs), loopback
	// by default.
	HTTPAddress string `yaml:"http_address"`
	// MaxBodyBytes is the largest request body, after gzip is undone;
	// larger requests are answered 413 (default 20MiB).
	MaxBodyBytes component.ByteSize `yaml:"max_body_bytes"`
	// Source is the source of records whose resource has no service.name
	// (default "otlp").
	Source string `yaml:"source"`
	// RetryAfter is what 429 and 503 answers tell a client to wait
	// (default 5s).
	RetryAfter time.Duration `yaml:"retry_after"`
}

func defaults() *Config {
	return &Config{HTTPAddress: "127.0.0.1:4318", MaxBodyBytes: 20 << 20, Source: "otlp", RetryAfter: 5 * time.Second}
}

// Finish does nothing: the receiver depends on nothing else.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	if _, port, err := net.SplitHostPort(c.HTTPAddress); err != nil || port == "" {
		ps.Add("http_address", "%q is not HOST:PORT such as 127.0.0.1:4318", c.HTTPAddress)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30 {
		ps.Add("max_body_bytes", "must be from 1KiB to 1GiB")
	}
	if c.Source == "" || len(c.Source) > 256 {
		ps.Add("source", "must be 1 to 256 characters")
	}
	if c.RetryAfter < time.Second || c.RetryAfter > time.Hour {
		ps.Add("retry_after", "must be from 1s to 1h")
	}
	return ps.Err()
}
