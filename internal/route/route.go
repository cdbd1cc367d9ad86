// Package route decides which entries an output receives: an output's optional match, compiled into a test on records.
package route

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/record"
)

// Match selects entries by their fields; every condition set must hold.
// The zero Match selects everything.
type Match struct {
	// Sources are globs on the entry's source (path.Match syntax: * and ?
	// do not cross a /; [a-z] classes); one must match.
	Sources []string `yaml:"sources"`
	// EntryTypes lists the entry types taken (1 log … 5 audit, 6, 7).
	EntryTypes []int `yaml:"entry_types"`
	// MinLevel and MaxLevel bound logLevel (1 emergency … 8 debug), both
	// included: max_level: 4 takes emergency to error.
	MinLevel Level `yaml:"min_level"`
	MaxLevel Level `yaml:"max_level"`
	// Metadata requires each key to be present with exactly this value.
	Metadata map[string]string `yaml:"metadata"`
}

// Level is a log level, written as a number from 1 to 8 or its name.
type Level int

// LevelNames are the names of levels 1 to 8.
var LevelNames = []string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

// UnmarshalYAML reads a level number or name.
func (l *Level) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(n.Value); err == nil {
			*l = Level(v) // range checked by Validate, with the key
			return nil
		}
		for i, name := range LevelNames {
			if strings.EqualFold(n.Value, name) {
				*l = Level(i + 1)
				return nil
			}
		}
	}
	return fmt.Errorf("%q is not a level: use 1 to 8 or %s", n.Value, strings.Join(LevelNames, ", "))
}

// Empty reports whether m selects everything.
func (m *Match) Empty() bool {
	return len(m.Sources) == 0 && len(m.EntryTypes) == 0 && m.MinLevel == 0 && m.MaxLevel == 0 && len(m.Metadata) == 0
}

// Validate reports every problem at once, keys relative to the match.
func (m *Match) Validate() error {
	var ps component.Problems
	for i, g := range m.Sources {
		if _, err := path.Match(g, ""); err != nil {
			ps.Add(fmt.Sprintf("sources[%d]", i), "%q is not a valid glob: %v", g, err)
		}
	}
	for i, t := range m.EntryTypes {
		if t < 1 || t > 7 {
			ps.Add(fmt.Sprintf("entry_types[%d]", i), "%d is not an entry type (1 to 7)", t)
		}
	}
	for _, l := range []struct {
		key string
		v   Level
	}{{"min_level", m.MinLevel}, {"max_level", m.MaxLevel}} {
		if l.v != 0 && (l.v < 1 || l.v > 8) {
			ps.Add(l.key, "%d is not a level (1 emergency to 8 debug)", l.v)
		}
	}
	if m.MinLevel >= 1 && m.MaxLevel >= 1 && m.MinLevel > m.MaxLevel {
		ps.Add("min_level", "%d is above max_level %d: no entry could match (1 is the most severe)", m.MinLevel, m.MaxLevel)
	}
	return ps.Err()
}

// Compile returns the test m stands for, or nil when m selects everything
// (the dispatcher then parses nothing). A record that cannot be read is
// taken: the output, not the router, decides what to do with it.
func (m Match) Compile() func(rec []byte) bool {
	if m.Empty() {
		return nil
	}
	types := map[int]bool{}
	for _, t := range m.EntryTypes {
		types[t] = true
	}
	lo, hi := max(m.MinLevel, 1), m.MaxLevel
	if hi == 0 {
		hi = 8
	}
	return func(rec []byte) bool {
		e, err := record.Parse(rec)
		if err != nil {
			return true
		}
		if len(types) > 0 && !types[e.EntryType] {
			return false
		}
		if Level(e.LogLevel) < lo || Level(e.LogLevel) > hi {
			return false
		}
		for k, v := range m.Metadata {
			if got, ok := e.Metadata[k]; !ok || got != v {
				return false
			}
		}
		if len(m.Sources) == 0 {
			return true
		}
		for _, g := range m.Sources {
			if ok, _ := path.Match(g, e.Source); ok {
				return true
			}
		}
		return false
	}
}
