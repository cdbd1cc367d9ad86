package file

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
)

// Defaults of a file output's configuration.
const (
	DefaultMaxSize  = 100 << 20
	DefaultMaxFiles = 5
	// DefaultFileName is the file under the data directory written when
	// path is not set.
	DefaultFileName = "entries.ndjson"
)

// Config is a file output's section of the configuration.
type Config struct {
	// Path is the file written (default <data_dir>/entries.ndjson).
	Path string `yaml:"path"`
	// MaxSize rotates the file before it would grow past this (default 100MiB).
	MaxSize component.ByteSize `yaml:"max_size"`
	// MaxFiles is how many rotated files are kept beside it (default 5).
	MaxFiles int `yaml:"max_files"`
}

// Finish puts the file under the data directory when no path is set.
func (c *Config) Finish(env component.Env) {
	if c.Path == "" {
		c.Path = filepath.Join(env.DataDir, DefaultFileName)
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	if c.Path == "" {
		ps.Add("path", "is required for a file output")
	} else if err := checkWritableDir(filepath.Dir(c.Path)); err != nil {
		ps.Add("path", "%v", err)
	}
	if c.MaxSize < 4096 {
		ps.Add("max_size", "must be at least 4KiB")
	}
	if c.MaxFiles < 1 {
		ps.Add("max_files", "must be at least 1")
	}
	return ps.Err()
}

// Factory makes file outputs: `type: file` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "file".
func (Factory) Type() string { return "file" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
}

// New opens the file.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	c := cfg.(*Config)
	o, err := New(Options{Name: set.Name, Path: c.Path, MaxSize: int64(c.MaxSize), MaxFiles: c.MaxFiles})
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // drop the "file output:" prefix: the message says it
		}
		return nil, fmt.Errorf("cannot open output file %s: %w", c.Path, err)
	}
	return o, nil
}
