// Package redact removes secrets and personal data from decoded entries before they are normalised and queued.
package redact

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Config is the `redact:` section. A nil *Config means redaction is off.
type Config struct {
	// Detectors are the built-in detectors to run, by name (nil:
	// DefaultDetectors; an empty list: none).
	Detectors []string `yaml:"detectors"`
	// Action is what the detectors and keys do on a match: mask (default),
	// hash or drop_entry.
	Action string `yaml:"action"`
	// Keys are metadata keys whose values are masked whole, by name or
	// glob, case-insensitively ("password", "*_token").
	Keys []string `yaml:"keys"`
	// DropKeys are metadata keys removed from the entry, by name or glob.
	DropKeys []string `yaml:"drop_keys"`
	// Sources and EntryTypes limit where the detectors and keys apply
	// (globs on the source; log, metric, trace, event, audit). Empty: everywhere.
	Sources    []string `yaml:"sources"`
	EntryTypes []string `yaml:"entry_types"`
	// HashKeyFile or HashKey ("${ENV_NAME}") is the key of action hash.
	HashKeyFile string `yaml:"hash_key_file"`
	HashKey     string `yaml:"hash_key"`
	// MarkerKey is the metadata key that lists the rules that fired
	// (default "redacted").
	MarkerKey string `yaml:"marker_key"`
	Rules     []Rule `yaml:"rules"`
}

// Rule is one custom rule: a regular expression, or a built-in detector
// with its own action and scope.
type Rule struct {
	Name       string   `yaml:"name"`
	Pattern    string   `yaml:"pattern"`  // RE2 syntax
	Detector   string   `yaml:"detector"` // instead of pattern: a built-in detector
	Action     string   `yaml:"action"`   // mask (default), hash, drop_entry
	Sources    []string `yaml:"sources"`
	EntryTypes []string `yaml:"entry_types"`
}

// Actions.
const (
	ActionMask      = "mask"
	ActionHash      = "hash"
	ActionDropEntry = "drop_entry"
)

// DefaultMarkerKey is the metadata key listing the rules that fired.
const DefaultMarkerKey = "redacted"

// MaxRules bounds the custom rules, so that the rules that fired on one
// entry fit in a fixed set.
const MaxRules = 100

// DefaultDetectors are the detectors on when none are listed: every
// built-in one except ip.
var DefaultDetectors = []string{"card", "email", "bearer", "jwt", "aws", "github", "gitlab", "slack", "private_key", "kv_secrets"}

// entryTypes names the contract's entry types.
var entryTypes = map[string]int{"log": 1, "metric": 2, "trace": 3, "event": 4, "audit": 5}

// Error is one problem in the section; Key is its place under `redact.`
// ("rules[2].pattern"), for the configuration's error messages.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

func (c *Config) detectors() []string {
	if c.Detectors == nil {
		return DefaultDetectors
	}
	return c.Detectors
}

func (c *Config) markerKey() string {
	if c.MarkerKey == "" {
		return DefaultMarkerKey
	}
	return c.MarkerKey
}

// Validate reports every problem in the section at once, each an *Error.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, d := range c.Detectors {
		if detectorByName(d) == nil {
			bad(fmt.Sprintf("detectors[%d]", i), "unknown detector %q; known: %s", d, strings.Join(detectorNames(), ", "))
		} else if seen[d] {
			bad(fmt.Sprintf("detectors[%d]", i), "%q is listed twice", d)
		}
		seen[d] = true
	}
	checkAction(bad, "action", c.Action)
	checkGlobs(bad, "keys", c.Keys)
	checkGlobs(bad, "drop_keys", c.DropKeys)
	checkGlobs(bad, "sources", c.Sources)
	checkTypes(bad, "entry_types", c.EntryTypes)
	if c.MarkerKey != "" && !validName(c.MarkerKey) {
		bad("marker_key", "must be 1 to 64 letters, digits, '_', '-' or '.'")
	}
	if len(c.Rules) > MaxRules {
		bad("rules", "at most %d rules; there are %d", MaxRules, len(c.Rules))
	}
	hashed := c.Action == ActionHash
	names := map[string]bool{"keys": true, "drop_keys": true}
	for _, d := range detectorNames() {
		names[d] = true
	}
	for i, r := range c.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			bad(key+".name", "is required")
		case !validName(r.Name):
			bad(key+".name", "%q must be 1 to 64 letters, digits, '_', '-' or '.'", r.Name)
		case names[r.Name]:
			bad(key+".name", "%q is already the name of a detector or another rule", r.Name)
		}
		names[r.Name] = true
		switch {
		case r.Pattern == "" && r.Detector == "":
			bad(key, "needs a pattern or a detector")
		case r.Pattern != "" && r.Detector != "":
			bad(key, "has both a pattern and a detector; use one")
		case r.Detector != "" && detectorByName(r.Detector) == nil:
			bad(key+".detector", "unknown detector %q; known: %s", r.Detector, strings.Join(detectorNames(), ", "))
		case r.Pattern != "":
			if err := checkPattern(r.Pattern); err != "" {
				bad(key+".pattern", "%s", err)
			}
		}
		checkAction(bad, key+".action", r.Action)
		checkGlobs(bad, key+".sources", r.Sources)
		checkTypes(bad, key+".entry_types", r.EntryTypes)
		hashed = hashed || r.Action == ActionHash
	}
	switch {
	case c.HashKeyFile != "" && c.HashKey != "":
		bad("hash_key", "set hash_key or hash_key_file, not both")
	case c.HashKeyFile != "" || c.HashKey != "":
		if _, err := c.hashKey(); err != nil {
			key := "hash_key"
			if c.HashKeyFile != "" {
				key = "hash_key_file"
			}
			bad(key, "%v", err)
		}
	case hashed:
		bad("hash_key_file", "action hash needs a key: hash_key_file, or hash_key: ${ENV_NAME}")
	}
	return errors.Join(errs...)
}

func checkAction(bad func(string, string, ...any), key, a string) {
	switch a {
	case "", ActionMask, ActionHash, ActionDropEntry:
	default:
		bad(key, "must be mask, hash or drop_entry, not %q", a)
	}
}

func checkGlobs(bad func(string, string, ...any), key string, globs []string) {
	for i, g := range globs {
		if g == "" {
			bad(fmt.Sprintf("%s[%d]", key, i), "must not be empty")
		} else if _, err := path.Match(g, ""); err != nil {
			bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a valid glob: %v", g, err)
		}
	}
}

func checkTypes(bad func(string, string, ...any), key string, types []string) {
	for i, t := range types {
		if _, ok := entryTypes[t]; !ok {
			bad(fmt.Sprintf("%s[%d]", key, i), "unknown entry type %q: use log, metric, trace, event or audit", t)
		}
	}
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if class[s[i]]&cWord == 0 && s[i] != '.' {
			return false
		}
	}
	return true
}

// checkPattern compiles an RE2 pattern and describes its error with the
// offset where it is, or returns "".
func checkPattern(p string) string {
	_, err := regexp.Compile(p)
	if err == nil {
		if regexp.MustCompile(p).MatchString("") {
			return "matches the empty string, so it would match everywhere"
		}
		return ""
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		if i := strings.Index(p, se.Expr); i >= 0 && se.Expr != "" {
			return fmt.Sprintf("invalid at offset %d (%q): %s", i, se.Expr, se.Code)
		}
		return fmt.Sprintf("invalid: %s: %q", se.Code, se.Expr)
	}
	return "invalid: " + err.Error()
}

// hashKey reads the key of action hash: from the file (a regular file of
// 16 bytes to 4 KiB, trailing newline ignored) or the environment variable.
func (c *Config) hashKey() ([]byte, error) {
	if c.HashKey != "" {
		name, ok := strings.CutPrefix(c.HashKey, "${")
		name, ok2 := strings.CutSuffix(name, "}")
		if !ok || !ok2 || name == "" {
			return nil, errors.New("must name an environment variable as ${NAME}; put a literal key in hash_key_file instead")
		}
		v, set := os.LookupEnv(name)
		if !set || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", name)
		}
		if len(v) < 16 {
			return nil, fmt.Errorf("the key in %s must be at least 16 bytes; it has %d", name, len(v))
		}
		return []byte(v), nil
	}
	f, err := os.Open(c.HashKeyFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", c.HashKeyFile)
	}
	b := make([]byte, 4097)
	n, _ := f.Read(b)
	b = []byte(strings.TrimRight(string(b[:n]), "\r\n"))
	switch {
	case n > 4096:
		return nil, fmt.Errorf("%s is larger than 4 KiB; it should hold only the key", c.HashKeyFile)
	case len(b) < 16:
		return nil, fmt.Errorf("the key in %s must be at least 16 bytes; it has %d", c.HashKeyFile, len(b))
	}
	return b, nil
}

// glob matches names by a path.Match pattern, with the common shapes
// (exact, "prefix*", "*suffix") answered without it.
type glob struct {
	pat       string
	kind      uint8 // globExact, globPrefix, globSuffix, globAny, globMatch
	lit       string
	foldToLow bool
}

const (
	globExact = iota
	globPrefix
	globSuffix
	globAny
	globMatch
)

func newGlob(p string, fold bool) glob {
	if fold {
		p = strings.ToLower(p)
	}
	g := glob{pat: p, kind: globMatch, foldToLow: fold}
	special := func(s string) bool { return strings.ContainsAny(s, `*?[\`) }
	switch {
	case p == "*":
		g.kind = globAny
	case !special(p):
		g.kind, g.lit = globExact, p
	case strings.HasSuffix(p, "*") && !special(p[:len(p)-1]):
		g.kind, g.lit = globPrefix, p[:len(p)-1]
	case strings.HasPrefix(p, "*") && !special(p[1:]):
		g.kind, g.lit = globSuffix, p[1:]
	}
	return g
}

func (g *glob) match(b []byte) bool {
	switch g.kind {
	case globAny:
		return true
	case globExact:
		return len(b) == len(g.lit) && eqFold(b, g.lit, g.foldToLow)
	case globPrefix:
		return len(b) >= len(g.lit) && eqFold(b[:len(g.lit)], g.lit, g.foldToLow)
	case globSuffix:
		return len(b) >= len(g.lit) && eqFold(b[len(b)-len(g.lit):], g.lit, g.foldToLow)
	}
	s := string(b)
	if g.foldToLow {
		s = strings.ToLower(s)
	}
	ok, _ := path.Match(g.pat, s)
	return ok
}

// eqFold compares b with lit, ASCII-case-insensitively when fold is set
// (lit is then lowercase).
func eqFold(b []byte, lit string, fold bool) bool {
	if !fold {
		return string(b) == lit
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}

// scope is where a rule applies: sources (globs) and entry types.
type scope struct {
	sources []glob
	types   uint8 // bit 1<<t for each entry type; 0: all
}

func newScope(sources, types []string) scope {
	var s scope
	for _, g := range sources {
		s.sources = append(s.sources, newGlob(g, false))
	}
	for _, t := range types {
		s.types |= 1 << entryTypes[t]
	}
	return s
}

func (s *scope) all() bool { return len(s.sources) == 0 && s.types == 0 }

func (s *scope) covers(source []byte, entryType int) bool {
	if s.types != 0 && s.types&(1<<uint(entryType&7)) == 0 {
		return false
	}
	if len(s.sources) == 0 {
		return true
	}
	return slices.ContainsFunc(s.sources, func(g glob) bool { return g.match(source) })
}
