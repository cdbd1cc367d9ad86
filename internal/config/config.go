// Package config loads the agent's configuration: defaults, then a YAML file, then environment variables, then flags, and a Validate that reports every problem at once.
//
// The file is decoded key by key (decode.go), so that one run of Validate
// lists every problem — unknown keys, values of the wrong kind, values out
// of range — each as FILE:LINE: key.path: message, sorted by line. Each
// input's and output's own keys are decoded into its type's configuration,
// which its factory makes (see Registry); config itself knows no type.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/redact"
)

// ByteSize and FileMode are the configuration's units (see package component).
type (
	ByteSize = component.ByteSize
	FileMode = component.FileMode
)

// Config is the whole agent configuration.
type Config struct {
	DataDir string `yaml:"data_dir"`
	// Listeners (unix, tcp, limits) configure the agent's first input, the
	// Agent API input named agent_api.
	Listeners  `yaml:",inline"`
	Inputs     []InputConfig    `yaml:"inputs"`
	Queue      QueueConfig      `yaml:"queue"`
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	Outputs    []OutputConfig   `yaml:"outputs"`
	Admin      AdminConfig      `yaml:"admin"`
	Shutdown   ShutdownConfig   `yaml:"shutdown"`
	Log        LogConfig        `yaml:"log"`
	Redact     *redact.Config   `yaml:"redact"` // nil: redaction off

	// Source is the file the configuration came from ("" for none).
	Source   string   `yaml:"-"`
	Registry Registry `yaml:"-"`

	lines    map[string]int // dotted key paths → their line in Source
	problems []problem      // found while decoding; Validate reports them
	getenv   func(string) string
}

// DeadLetterConfig is where entries refused permanently by an output go.
type DeadLetterConfig struct {
	Dir      string   `yaml:"dir"`
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// AdminConfig is the admin HTTP server: metrics, health, status, reload.
type AdminConfig struct {
	Address    string        `yaml:"address"`
	StallAfter time.Duration `yaml:"stall_after"` // not ready when an output made no progress this long while entries wait
	// Tap says who may stream accepted entries from GET /tap (they can hold
	// secrets): unset, only a client on loopback running as the agent's own
	// user; true, any client of the admin server; false, nobody.
	Tap *bool `yaml:"tap"`

	explicit bool // the address was configured, not defaulted
}

// Explicit reports whether the admin address was set by the operator (then
// failing to listen on it is an error, not a warning).
func (a AdminConfig) Explicit() bool { return a.explicit }

// QueueConfig is the queue between intake and outputs.
type QueueConfig struct {
	Type     string   `yaml:"type"`
	Dir      string   `yaml:"dir"`
	MaxBytes ByteSize `yaml:"max_bytes"`
	WhenFull string   `yaml:"when_full"`
}

// ShutdownConfig bounds a graceful stop.
type ShutdownConfig struct {
	Timeout time.Duration `yaml:"timeout"`
}

// LogConfig is the agent's own logging.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Defaults.
const (
	DefaultDataDir    = "./logflux-data"
	DefaultUnixPath   = "/tmp/logflux-agent.sock"
	DefaultTCPAddress = "127.0.0.1:9999"
	DefaultMaxLine    = 16 << 20
	DefaultQueueBytes = 1 << 30
	DefaultDLQBytes   = 64 << 20
	DefaultAdmin      = "127.0.0.1:9464"
	MinSecretLen      = 32
	// AgentAPIInput is the name (and type) of the input the top-level
	// unix, tcp and limits keys configure.
	AgentAPIInput = "agent_api"
	// EnvAPIKey turns the logflux output on when it is set and no logflux
	// output is configured.
	EnvAPIKey = "LOGFLUX_API_KEY"
)

// Default returns the configuration used when nothing is configured, for
// the types reg lists.
func Default(reg Registry) *Config {
	return &Config{
		DataDir:    DefaultDataDir,
		Listeners:  DefaultListeners(),
		Queue:      QueueConfig{Type: "disk", MaxBytes: DefaultQueueBytes, WhenFull: "reject"},
		DeadLetter: DeadLetterConfig{MaxBytes: DefaultDLQBytes},
		Admin:      AdminConfig{Address: DefaultAdmin, StallAfter: 5 * time.Minute},
		Shutdown:   ShutdownConfig{Timeout: 30 * time.Second},
		Log:        LogConfig{Level: "info", Format: "text"},
		Registry:   reg,
		getenv:     func(string) string { return "" },
	}
}

// Load reads the YAML file at path over the defaults (path "" means no file),
// then applies the environment. Problems in the file's keys and values are
// kept for Validate, which reports them with every other problem; Load fails
// only when the file cannot be read or is not YAML, or an environment
// variable holds a bad value.
func Load(path string, getenv func(string) string, reg Registry) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
	}
	return Parse(data, path, getenv, reg)
}

// Parse is Load for a document already read; source names it in messages.
func Parse(data []byte, source string, getenv func(string) string, reg Registry) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Default(reg)
	c.getenv = getenv
	c.Source = source
	if err := c.decode(data); err != nil {
		if source != "" {
			return nil, fmt.Errorf("%s:%w", source, err)
		}
		return nil, err
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) decode(data []byte) error {
	c.lines = map[string]int{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
			return errors.New(rest) // "3: mapping values are not allowed…"
		}
		return fmt.Errorf(" %s", strings.TrimPrefix(msg, "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil // an empty file means the defaults
	}
	d := &decoder{lines: c.lines, getenv: c.getenv, components: c.Registry.decodeComponents}
	d.substitute(root.Content[0], "")
	d.mapping(root.Content[0], "", reflectValue(c))
	c.problems = d.problems
	if _, ok := c.lines["admin.address"]; ok {
		c.SetAdminAddress(c.Admin.Address)
	}
	if _, ok := c.lines["redact"]; ok && c.Redact == nil {
		c.Redact = &redact.Config{} // `redact:` with nothing under it: the defaults
	}
	return nil
}

// Environment variables that override the file.
var envVars = []struct {
	name  string
	apply func(c *Config, v string) error
}{
	{"LOGFLUX_DATA_DIR", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"LOGFLUX_UNIX_PATH", func(c *Config, v string) error { c.Unix.Path = v; return nil }},
	{"LOGFLUX_TCP_ADDRESS", func(c *Config, v string) error { c.TCP.Address = v; return nil }},
	{"LOGFLUX_SHARED_SECRET", func(c *Config, v string) error { c.TCP.SharedSecret = v; return nil }},
	{"LOGFLUX_QUEUE_TYPE", func(c *Config, v string) error { c.Queue.Type = v; return nil }},
	{"LOGFLUX_QUEUE_MAX_BYTES", func(c *Config, v string) error { return c.Queue.MaxBytes.Set(v) }},
	{"LOGFLUX_QUEUE_WHEN_FULL", func(c *Config, v string) error { c.Queue.WhenFull = v; return nil }},
	{"LOGFLUX_LOG_LEVEL", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"LOGFLUX_ADMIN_ADDRESS", func(c *Config, v string) error { c.SetAdminAddress(v); return nil }},
	{"LOGFLUX_LOG_FORMAT", func(c *Config, v string) error { c.Log.Format = v; return nil }},
}

// SetAdminAddress sets the admin address as the operator's choice. It is
// the one parser of the address for the file, the environment and the
// flag: "" or "off" turns the admin server off.
func (c *Config) SetAdminAddress(v string) {
	if strings.EqualFold(strings.TrimSpace(v), "off") {
		v = ""
	}
	c.Admin.Address, c.Admin.explicit = v, true
}

// EnvNames lists the environment variables the agent reads, for docs and help.
func EnvNames() []string {
	names := make([]string, len(envVars))
	for i, e := range envVars {
		names[i] = e.name
	}
	return names
}

func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	for _, e := range envVars {
		if v := getenv(e.name); v != "" {
			if err := e.apply(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// AddOutput appends an output of type typ with its defaults (as the --stdout
// flag does).
func (c *Config) AddOutput(typ, name string) error {
	f := c.Registry.Output(typ)
	if f == nil {
		return fmt.Errorf("output type %q is not available in this build", typ)
	}
	c.Outputs = append(c.Outputs, OutputConfig{Type: typ, Name: name, Settings: f.NewConfig()})
	return nil
}

// Finish fills in what depends on other settings (paths under the data
// directory, the default output, secrets from files and the environment).
// Call it after all overrides and before Validate.
func (c *Config) Finish() error {
	if c.Queue.Dir == "" {
		c.Queue.Dir = filepath.Join(c.DataDir, "queue")
	}
	if c.DeadLetter.Dir == "" {
		c.DeadLetter.Dir = filepath.Join(c.DataDir, "deadletter")
	}
	if c.Outputs == nil && c.Registry.Output("file") != nil {
		c.AddOutput("file", "")
	}
	// An API key in the environment turns forwarding to LogFlux on with
	// nothing else to configure.
	if strings.TrimSpace(c.getenv(EnvAPIKey)) != "" && c.countType("logflux") == 0 && c.Registry.Output("logflux") != nil {
		c.AddOutput("logflux", "")
	}
	env := component.Env{DataDir: c.DataDir, Getenv: c.getenv}
	for i := range c.Outputs {
		o := &c.Outputs[i]
		if o.Name == "" {
			o.Name = o.Type
			if n := c.countType(o.Type); n > 1 {
				o.Name = fmt.Sprintf("%s-%d", o.Type, i)
			}
		}
		if o.Settings != nil {
			o.Settings.Finish(env)
		}
	}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		if in.Name == "" {
			in.Name = fmt.Sprintf("%s-%d", in.Type, i)
		}
		if in.Settings != nil {
			in.Settings.Finish(env)
		}
	}
	c.Listeners.Finish()
	return nil
}

func (c *Config) countType(t string) int {
	n := 0
	for _, o := range c.Outputs {
		if o.Type == t {
			n++
		}
	}
	return n
}

// Line returns the line of a key in the file (0 if it is not in it).
func (c *Config) Line(key string) int { return c.lines[key] }

// lineOf finds the line of key, or of the closest enclosing key in the file.
func (c *Config) lineOf(key string) int {
	for key != "" {
		if line, ok := c.lines[key]; ok {
			return line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// Validate reports every problem in the configuration at once — those
// found while reading the file and those in the values — one error per
// problem, sorted by line, each "FILE:LINE: key.path: message".
func (c *Config) Validate() error {
	ps := slices.Clone(c.problems)
	bad := func(key, format string, args ...any) {
		ps = append(ps, problem{line: c.lineOf(key), key: key, msg: fmt.Sprintf(format, args...)})
	}
	section := func(prefix string, err error) {
		for _, p := range component.Split(err) {
			bad(component.JoinKey(prefix, p.Key), "%s", p.Message)
		}
	}
	section("", c.Listeners.Validate())
	if c.DeadLetter.MaxBytes < 1<<20 {
		bad("dead_letter.max_bytes", "must be at least 1MiB")
	}
	if c.Admin.Address != "" {
		if _, port, err := net.SplitHostPort(c.Admin.Address); err != nil {
			bad("admin.address", "must be host:port, or off (or empty) to turn the admin server off")
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("admin.address", "port %q is not a number from 0 to 65535", port)
		}
		if c.Admin.StallAfter <= 0 {
			bad("admin.stall_after", "must be positive")
		}
	}
	switch c.Queue.Type {
	case "memory", "disk":
	default:
		bad("queue.type", "must be memory or disk, not %q", c.Queue.Type)
	}
	// The largest message must fit in an empty queue, with room for what
	// normalisation adds (id, receivedAt, defaults: under 64 KiB for a
	// batch of 100).
	if minQ := c.maxLine() + 64<<10; c.Queue.MaxBytes < minQ {
		bad("queue.max_bytes", "must be at least limits.max_line_bytes plus 64KiB (%s), so that the largest message fits", minQ)
	}
	switch c.Queue.WhenFull {
	case "reject", "block":
	default:
		bad("queue.when_full", "must be reject or block, not %q", c.Queue.WhenFull)
	}
	if len(c.Outputs) == 0 {
		bad("outputs", "must list at least one output")
	}
	names := map[string]bool{}
	for i, o := range c.Outputs {
		key := fmt.Sprintf("outputs[%d]", i)
		if names[o.Name] {
			bad(key+".name", "%q is used by two outputs", o.Name)
		}
		names[o.Name] = true
		if strings.ContainsAny(o.Name, " \t\r\n/") {
			bad(key+".name", "%q holds white space or a slash", o.Name)
		}
		if o.Settings != nil {
			section(key, o.Settings.Validate())
		}
		section(key+".match", o.Match.Validate())
	}
	inNames := map[string]bool{AgentAPIInput: true}
	for i, in := range c.Inputs {
		key := fmt.Sprintf("inputs[%d]", i)
		if inNames[in.Name] {
			bad(key+".name", "%q is used by two inputs (agent_api is the one configured by unix, tcp and limits)", in.Name)
		}
		inNames[in.Name] = true
		if in.Settings != nil {
			section(key, in.Settings.Validate())
		}
	}
	if c.Shutdown.Timeout <= 0 {
		bad("shutdown.timeout", "must be positive")
	}
	if c.Redact != nil {
		if err := c.Redact.Validate(); err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				re := e.(*redact.Error)
				bad("redact."+re.Key, "%s", re.Msg)
			}
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	return c.report(ps)
}

// maxLine is the longest message any Agent API input takes.
func (c *Config) maxLine() ByteSize {
	m := c.Limits.MaxLineBytes
	for _, in := range c.Inputs {
		if l, ok := in.Settings.(interface{ MaxLine() ByteSize }); ok {
			m = max(m, l.MaxLine())
		}
	}
	return m
}

// ProblemError is one problem of a configuration.
type ProblemError struct {
	Source string // the file ("" for none)
	Line   int    // 0: not in the file
	Key    string
	Msg    string
}

func (e *ProblemError) Error() string {
	if e.Line > 0 && e.Source != "" {
		return fmt.Sprintf("%s:%d: %s: %s", e.Source, e.Line, e.Key, e.Msg)
	}
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

func (c *Config) report(ps []problem) error {
	slices.SortStableFunc(ps, func(a, b problem) int {
		// Problems outside the file (environment, flags, defaults) first.
		return cmp.Compare(a.line, b.line)
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = &ProblemError{Source: c.Source, Line: p.line, Key: p.key, Msg: p.msg}
	}
	return errors.Join(errs...)
}
