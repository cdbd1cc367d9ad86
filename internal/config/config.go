// Package config loads the agent's configuration: defaults, then a YAML file, then environment variables, then flags, and a Validate that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/forward"
)

// Config is the whole agent configuration.
type Config struct {
	DataDir    string           `yaml:"data_dir"`
	Unix       UnixConfig       `yaml:"unix"`
	TCP        TCPConfig        `yaml:"tcp"`
	Limits     LimitsConfig     `yaml:"limits"`
	Queue      QueueConfig      `yaml:"queue"`
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	Outputs    []OutputConfig   `yaml:"outputs"`
	Admin      AdminConfig      `yaml:"admin"`
	Shutdown   ShutdownConfig   `yaml:"shutdown"`
	Log        LogConfig        `yaml:"log"`

	// Source is the file the configuration came from ("" for none); lines
	// maps dotted key paths to their line in it, for error messages.
	Source    string         `yaml:"-"`
	lines     map[string]int `yaml:"-"`
	envAPIKey string         // LOGFLUX_API_KEY: turns the logflux output on
}

// UnixConfig is the Unix socket listener.
type UnixConfig struct {
	Enabled *bool    `yaml:"enabled"` // default true
	Path    string   `yaml:"path"`
	Mode    FileMode `yaml:"mode"`
	Group   string   `yaml:"group"`
}

// TCPConfig is the TCP listener.
type TCPConfig struct {
	Enabled          *bool         `yaml:"enabled"` // default: on when address is set
	Address          string        `yaml:"address"`
	SharedSecret     string        `yaml:"shared_secret"`
	SharedSecretFile string        `yaml:"shared_secret_file"`
	AllowNonLoopback bool          `yaml:"allow_non_loopback"`
	AuthTimeout      time.Duration `yaml:"auth_timeout"`
	TLS              TLSConfig     `yaml:"tls"`
}

// TLSConfig turns on TLS for the TCP listener.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"` // set: clients must present a certificate it signed (mutual TLS)
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

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

// LimitsConfig bounds what one client can make the agent do.
type LimitsConfig struct {
	MaxLineBytes    ByteSize      `yaml:"max_line_bytes"`
	MaxBatchEntries int           `yaml:"max_batch_entries"`
	MaxConnections  int           `yaml:"max_connections"`
	MaxPerPeer      int           `yaml:"max_connections_per_peer"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	RateLimit       float64       `yaml:"rate_limit"` // entries/s per connection, 0 = off
	AuthFailures    int           `yaml:"auth_failures"`
	AuthBlock       time.Duration `yaml:"auth_block"`
}

// QueueConfig is the queue between intake and outputs.
type QueueConfig struct {
	Type     string   `yaml:"type"`
	Dir      string   `yaml:"dir"`
	MaxBytes ByteSize `yaml:"max_bytes"`
	WhenFull string   `yaml:"when_full"`
}

// OutputConfig is one output. Type picks which of the other fields apply.
type OutputConfig struct {
	Type     string   `yaml:"type"`
	Name     string   `yaml:"name"`
	Path     string   `yaml:"path"`      // file
	MaxSize  ByteSize `yaml:"max_size"`  // file: rotate past this size
	MaxFiles int      `yaml:"max_files"` // file: rotated files kept

	APIKey       string        `yaml:"api_key"`       // logflux
	APIKeyFile   string        `yaml:"api_key_file"`  // logflux
	Endpoint     string        `yaml:"endpoint"`      // logflux
	DiscoveryURL string        `yaml:"discovery_url"` // logflux
	Timeout      time.Duration `yaml:"timeout"`       // logflux
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
	DefaultDataDir     = "./logflux-data"
	DefaultUnixPath    = "/tmp/logflux-agent.sock"
	DefaultTCPAddress  = "127.0.0.1:9999"
	DefaultMaxLine     = 16 << 20
	DefaultQueueBytes  = 1 << 30
	DefaultDLQBytes    = 64 << 20
	DefaultAdmin       = "127.0.0.1:9464"
	DefaultFileMaxSize = 100 << 20
	DefaultFileKeep    = 5
	MinSecretLen       = 32
)

// Default returns the configuration used when nothing is configured.
func Default() *Config {
	return &Config{
		DataDir: DefaultDataDir,
		Unix:    UnixConfig{Path: DefaultUnixPath, Mode: 0o660},
		TCP:     TCPConfig{AuthTimeout: 10 * time.Second},
		Limits: LimitsConfig{
			MaxLineBytes:    DefaultMaxLine,
			MaxBatchEntries: 100,
			MaxConnections:  4096,
			MaxPerPeer:      1024,
			WriteTimeout:    10 * time.Second,
			AuthFailures:    5,
			AuthBlock:       time.Minute,
		},
		Queue:      QueueConfig{Type: "disk", MaxBytes: DefaultQueueBytes, WhenFull: "reject"},
		DeadLetter: DeadLetterConfig{MaxBytes: DefaultDLQBytes},
		Admin:      AdminConfig{Address: DefaultAdmin, StallAfter: 5 * time.Minute},
		Shutdown:   ShutdownConfig{Timeout: 30 * time.Second},
		Log:        LogConfig{Level: "info", Format: "text"},
	}
}

// Load reads the YAML file at path over the defaults (path "" means no file),
// then applies the environment. It does not validate.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if err := c.decode(data); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.Source = path
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	c.envAPIKey = strings.TrimSpace(getenv(forward.EnvAPIKey))
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) decode(data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 {
		return nil // an empty file means the defaults
	}
	c.lines = map[string]int{}
	collectLines(root.Content[0], "", c.lines)
	if _, ok := c.lines["admin.address"]; ok {
		c.Admin.explicit = true
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func collectLines(n *yaml.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			lines[key] = n.Content[i].Line
			collectLines(n.Content[i+1], key, lines)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = item.Line
			collectLines(item, key, lines)
		}
	}
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

// SetAdminAddress sets the admin address as the operator's choice ("" or
// "off" turns the admin server off).
func (c *Config) SetAdminAddress(v string) {
	if v == "off" {
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

// Finish fills in what depends on other settings (paths under the data
// directory, the default output, secrets from files). Call it after all
// overrides and before Validate.
func (c *Config) Finish() error {
	if c.Queue.Dir == "" {
		c.Queue.Dir = filepath.Join(c.DataDir, "queue")
	}
	if c.DeadLetter.Dir == "" {
		c.DeadLetter.Dir = filepath.Join(c.DataDir, "deadletter")
	}
	if c.Outputs == nil {
		c.Outputs = []OutputConfig{{Type: "file"}}
	}
	// An API key in the environment turns forwarding to LogFlux on with
	// nothing else to configure.
	if c.envAPIKey != "" && c.countType("logflux") == 0 {
		c.Outputs = append(c.Outputs, OutputConfig{Type: "logflux"})
	}
	for i := range c.Outputs {
		o := &c.Outputs[i]
		if o.Name == "" {
			o.Name = o.Type
			if n := c.countType(o.Type); n > 1 {
				o.Name = fmt.Sprintf("%s-%d", o.Type, i)
			}
		}
		if o.Type == "logflux" && o.APIKey == "" && o.APIKeyFile == "" {
			o.APIKey = c.envAPIKey
		}
		if o.Type == "file" {
			if o.Path == "" {
				o.Path = filepath.Join(c.DataDir, "entries.ndjson")
			}
			if o.MaxSize == 0 {
				o.MaxSize = DefaultFileMaxSize
			}
			if o.MaxFiles == 0 {
				o.MaxFiles = DefaultFileKeep
			}
		}
	}
	if c.TCPEnabled() && c.TCP.Address == "" {
		c.TCP.Address = DefaultTCPAddress
	}
	if c.TCP.SharedSecretFile != "" && c.TCP.SharedSecret == "" {
		secret, err := readSecretFile(c.TCP.SharedSecretFile)
		if err != nil {
			return fmt.Errorf("%s: reading tcp.shared_secret_file: %w", c.where("tcp.shared_secret_file"), err)
		}
		c.TCP.SharedSecret = secret
	}
	return nil
}

// readSecretFile reads a secret from a regular file of at most 4 KiB (never
// from a device or a pipe, which could block or never end), without the
// trailing newline.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", err
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("%s is larger than 4 KiB; it should hold only the secret", path)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
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

// Forward returns the logflux output's settings in the forwarder's terms.
func (o OutputConfig) Forward() forward.Config {
	return forward.Config{Name: o.Name, APIKey: o.APIKey, APIKeyFile: o.APIKeyFile, Endpoint: o.Endpoint, DiscoveryURL: o.DiscoveryURL, Timeout: o.Timeout}
}

// UnixEnabled reports whether the Unix socket listener is on.
func (c *Config) UnixEnabled() bool {
	return (c.Unix.Enabled == nil || *c.Unix.Enabled) && c.Unix.Path != ""
}

// TCPEnabled reports whether the TCP listener is on: when enabled is set, as
// it says; otherwise when an address is configured.
func (c *Config) TCPEnabled() bool {
	if c.TCP.Enabled != nil {
		return *c.TCP.Enabled
	}
	return c.TCP.Address != ""
}

// TCPNonLoopback reports whether the TCP address is not a loopback one.
func (c *Config) TCPNonLoopback() bool {
	host, _, err := net.SplitHostPort(c.TCP.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// where names the place of a key in the configuration file, for errors.
func (c *Config) where(key string) string {
	if line, ok := c.lines[key]; ok && c.Source != "" {
		return fmt.Sprintf("%s:%d: %s", c.Source, line, key)
	}
	return key
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", c.where(key), fmt.Sprintf(format, args...)))
	}
	if !c.UnixEnabled() && !c.TCPEnabled() {
		bad("unix", "no listener: enable the Unix socket (unix.path) or TCP (tcp.enabled)")
	}
	if c.UnixEnabled() {
		if c.Unix.Mode&^0o777 != 0 {
			bad("unix.mode", "must be permission bits such as 0660")
		}
		if len(c.Unix.Path) > 107 {
			bad("unix.path", "is %d bytes; a Unix socket path must be at most 107", len(c.Unix.Path))
		}
		if g := c.Unix.Group; g != "" {
			if _, err := strconv.Atoi(g); err != nil {
				if _, err := user.LookupGroup(g); err != nil {
					bad("unix.group", "%v (create it, or use a numeric group id)", err)
				}
			}
		}
	}
	if c.TCPEnabled() {
		if _, port, err := net.SplitHostPort(c.TCP.Address); err != nil {
			bad("tcp.address", "must be host:port: %v", err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("tcp.address", "port %q is not a number from 0 to 65535", port)
		} else if c.TCPNonLoopback() && !c.TCP.AllowNonLoopback {
			bad("tcp.address", "%s is not a loopback address; set tcp.allow_non_loopback: true to listen on it", c.TCP.Address)
		}
		if n := len(c.TCP.SharedSecret); n < MinSecretLen {
			if n == 0 {
				bad("tcp.shared_secret", "is required when TCP is enabled (or tcp.shared_secret_file)")
			} else {
				bad("tcp.shared_secret", "must be at least %d characters; it has %d", MinSecretLen, n)
			}
		}
		if c.TCP.AuthTimeout <= 0 {
			bad("tcp.auth_timeout", "must be positive")
		}
		if t := c.TCP.TLS; t.Enabled() {
			if t.CertFile == "" || t.KeyFile == "" {
				bad("tcp.tls", "needs both cert_file and key_file")
			}
			for key, f := range map[string]string{"tcp.tls.cert_file": t.CertFile, "tcp.tls.key_file": t.KeyFile, "tcp.tls.client_ca_file": t.ClientCAFile} {
				if f == "" {
					continue
				}
				if _, err := os.Stat(f); err != nil {
					bad(key, "%v", err)
				}
			}
		}
	} else if c.TCP.TLS.Enabled() {
		bad("tcp.tls", "is set but TCP is not enabled")
	}
	if c.Limits.MaxLineBytes < 1024 {
		bad("limits.max_line_bytes", "must be at least 1KiB")
	}
	if c.Limits.MaxBatchEntries < 1 {
		bad("limits.max_batch_entries", "must be at least 1")
	}
	if c.Limits.MaxConnections < 1 {
		bad("limits.max_connections", "must be at least 1")
	}
	if c.Limits.WriteTimeout <= 0 {
		bad("limits.write_timeout", "must be positive")
	}
	if c.Limits.IdleTimeout < 0 {
		bad("limits.idle_timeout", "must not be negative (0 turns it off)")
	}
	if c.Limits.MaxPerPeer < 0 {
		bad("limits.max_connections_per_peer", "must not be negative (0 turns it off)")
	}
	if c.Limits.RateLimit < 0 {
		bad("limits.rate_limit", "must not be negative (0 turns it off)")
	}
	if c.Limits.AuthFailures < 1 {
		bad("limits.auth_failures", "must be at least 1")
	}
	if c.Limits.AuthBlock <= 0 {
		bad("limits.auth_block", "must be positive")
	}
	if c.DeadLetter.MaxBytes < 1<<20 {
		bad("dead_letter.max_bytes", "must be at least 1MiB")
	}
	if c.Admin.Address != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Address); err != nil {
			bad("admin.address", "must be host:port (or empty to turn the admin server off): %v", err)
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
	if minQ := c.Limits.MaxLineBytes + 64<<10; c.Queue.MaxBytes < minQ {
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
		switch o.Type {
		case "file":
			if o.Path == "" {
				bad(key+".path", "is required for a file output")
			}
			if o.MaxSize < 4096 {
				bad(key+".max_size", "must be at least 4KiB")
			}
			if o.MaxFiles < 1 {
				bad(key+".max_files", "must be at least 1")
			}
		case "stdout":
		case "logflux":
			if err := o.Forward().Validate(); err != nil {
				var joined interface{ Unwrap() []error }
				if errors.As(err, &joined) {
					for _, e := range joined.Unwrap() {
						bad(key, "%v", e)
					}
				} else {
					bad(key, "%v", err)
				}
			}
		case "":
			bad(key+".type", "is required: file, stdout or logflux")
		default:
			bad(key+".type", "unknown output type %q: use file, stdout or logflux", o.Type)
		}
	}
	if c.Shutdown.Timeout <= 0 {
		bad("shutdown.timeout", "must be positive")
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
	return errors.Join(errs...)
}
