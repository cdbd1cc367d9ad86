package output

import "github.com/logflux/agent/internal/component"

// Factory makes outputs of one type. Each type lives in its own package
// under internal/output/<type>/ and exports a Factory; internal/components
// lists them. Adding an output type is: a package with a Factory, one line
// in that list, and its docs (docs/architecture.md has the recipe).
type Factory interface {
	// Type is the name configurations use (`type: file`).
	Type() string
	// NewConfig returns a new configuration of the type with its defaults
	// set. The output's YAML section, without the keys every output shares
	// (type, name, match), is decoded strictly into it: it must be a pointer
	// to a struct with yaml tags.
	NewConfig() component.Config
	// New builds an output from a configuration NewConfig made, after Finish
	// and a successful Validate. It may open files but must not block on
	// the network: connections are made by the first Write.
	New(cfg component.Config, set component.Settings) (Output, error)
}
