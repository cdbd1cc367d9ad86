// Package component is the vocabulary every input and output shares: the settings a constructor receives, the configuration contract, configuration problems, and the counters a component publishes.
package component

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/logflux/agent/internal/protocol"
)

// Config is a component type's own configuration: the fields of its YAML
// section (decoded strictly, so an unknown key is an error), with defaults
// set by the factory that made it.
type Config interface {
	// Finish fills in what depends on the rest of the agent's configuration
	// (paths under the data directory, secrets from the environment). It is
	// called once every override (file, environment, flags) is applied, and
	// before Validate.
	Finish(env Env)
	// Validate reports every problem at once: errors.Join of *Problem (see
	// Problems), each naming its key relative to the section.
	Validate() error
}

// Env is what a configuration may depend on besides its own section.
type Env struct {
	DataDir string              // the agent's data_dir
	Getenv  func(string) string // the agent's environment (never nil)
}

// Settings are what every constructor receives besides its own configuration.
type Settings struct {
	Name    string       // the component's configured name (unique among its kind)
	Log     *slog.Logger // already carries the name ("output" or "input" attribute)
	DataDir string       // the agent's data directory, for state the component keeps
	Metrics *Metrics     // where the component registers counters of its own
	// Filter changes entries before an input writes them (the agent's
	// redaction rules, swapped on reload); inputs pass every decoded entry
	// through it. Nil: entries are written as decoded.
	Filter EntryFilter
	// MaxAppendBytes is the most an input should hand to one Sink.Append
	// (a quarter of the queue, at most 1 MiB), so that a blocking queue
	// always has room for it eventually.
	MaxAppendBytes int
}

// EntryFilter changes or drops entries before they are written as records.
type EntryFilter interface {
	Filter(entries []protocol.Entry) []protocol.Entry
}

// Problem is one problem with one key of a configuration section.
type Problem struct {
	Key     string // dotted path relative to the section ("tls.cert_file"); "" for the section itself
	Message string // plain words, no Go types
	Err     error  // the underlying error, if any (for errors.As)
}

// Unwrap returns the underlying error.
func (p *Problem) Unwrap() error { return p.Err }

func (p *Problem) Error() string {
	if p.Key == "" {
		return p.Message
	}
	return p.Key + ": " + p.Message
}

// Problems collects configuration problems.
type Problems []error

// Add records a problem with key.
func (ps *Problems) Add(key, format string, args ...any) {
	*ps = append(*ps, &Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Err returns the problems joined, or nil.
func (ps Problems) Err() error { return errors.Join(ps...) }

// Split turns a Validate error back into its problems: each *Problem as it
// is, any other error as a problem of the section itself.
func Split(err error) []*Problem {
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []*Problem
		for _, e := range joined.Unwrap() {
			out = append(out, Split(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []*Problem{p}
	}
	return []*Problem{{Message: err.Error()}}
}

// JoinKey joins a section path and a key within it.
func JoinKey(prefix, key string) string {
	switch {
	case key == "":
		return prefix
	case prefix == "":
		return key
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}
