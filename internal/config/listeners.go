package config

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/logflux/agent/internal/component"
)

// Listeners configure an Agent API input: the top-level unix, tcp and
// limits sections (the agent's first input, agent_api), or the same keys in
// an inputs entry of type agent_api.
type Listeners struct {
	Unix   UnixConfig   `yaml:"unix"`
	TCP    TCPConfig    `yaml:"tcp"`
	Limits LimitsConfig `yaml:"limits"`

	secretErr error // reading tcp.shared_secret_file failed (reported by Validate)
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

	MaxUnauthenticated int `yaml:"max_unauthenticated"` // connections waiting to authenticate at once
}

// TLSConfig turns on TLS for the TCP listener.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"` // set: clients must present a certificate it signed (mutual TLS)
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

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

	MaxBufferedBytes ByteSize      `yaml:"max_buffered_bytes"`          // unfinished lines past 256 KiB, across all connections
	MaxPerProcess    int           `yaml:"max_connections_per_process"` // Unix connections from one client process, 0 = off
	FirstLineTimeout time.Duration `yaml:"first_line_timeout"`          // close a Unix connection with no complete line this long, 0 = off
}

// DefaultListeners are the defaults of the unix, tcp and limits sections.
func DefaultListeners() Listeners {
	return Listeners{
		Unix: UnixConfig{Path: DefaultUnixPath, Mode: 0o660},
		TCP:  TCPConfig{AuthTimeout: 10 * time.Second, MaxUnauthenticated: 64},
		Limits: LimitsConfig{
			MaxLineBytes:    DefaultMaxLine,
			MaxBatchEntries: 100,
			MaxConnections:  4096,
			MaxPerPeer:      1024,
			WriteTimeout:    10 * time.Second,
			AuthFailures:    5,
			AuthBlock:       time.Minute,

			MaxBufferedBytes: 256 << 20,
			MaxPerProcess:    64,
			FirstLineTimeout: time.Minute,
		},
	}
}

// UnixEnabled reports whether the Unix socket listener is on.
func (l *Listeners) UnixEnabled() bool {
	return (l.Unix.Enabled == nil || *l.Unix.Enabled) && l.Unix.Path != ""
}

// TCPEnabled reports whether the TCP listener is on: when enabled is set, as
// it says; otherwise when an address is configured.
func (l *Listeners) TCPEnabled() bool {
	if l.TCP.Enabled != nil {
		return *l.TCP.Enabled
	}
	return l.TCP.Address != ""
}

// TCPNonLoopback reports whether the TCP address is not a loopback one.
func (l *Listeners) TCPNonLoopback() bool {
	host, _, err := net.SplitHostPort(l.TCP.Address)
	if err != nil || host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// MaxLine is the longest message the input takes.
func (l *Listeners) MaxLine() ByteSize { return l.Limits.MaxLineBytes }

// Finish fills in the TCP address when TCP is enabled without one, and
// reads the shared secret from its file.
func (l *Listeners) Finish() {
	if l.TCPEnabled() && l.TCP.Address == "" {
		l.TCP.Address = DefaultTCPAddress
	}
	l.secretErr = nil
	if l.TCP.SharedSecretFile != "" && l.TCP.SharedSecret == "" {
		secret, err := readSecretFile(l.TCP.SharedSecretFile)
		if err != nil {
			l.secretErr = err
			return
		}
		l.TCP.SharedSecret = secret
	}
}

// Validate reports every problem of the three sections at once.
func (l *Listeners) Validate() error {
	var ps component.Problems
	bad := ps.Add
	if l.secretErr != nil {
		bad("tcp.shared_secret_file", "cannot be read: %v", l.secretErr)
	}
	if !l.UnixEnabled() && !l.TCPEnabled() {
		bad("unix", "no listener: enable the Unix socket (unix.path) or TCP (tcp.enabled)")
	}
	if l.UnixEnabled() {
		if l.Unix.Mode&^0o777 != 0 {
			bad("unix.mode", "must be permission bits such as 0660")
		}
		if len(l.Unix.Path) > 107 {
			bad("unix.path", "is %d bytes; a Unix socket path must be at most 107", len(l.Unix.Path))
		}
		if g := l.Unix.Group; g != "" {
			if _, err := strconv.Atoi(g); err != nil {
				if _, err := user.LookupGroup(g); err != nil {
					bad("unix.group", "%v (create it, or use a numeric group id)", err)
				}
			}
		}
	}
	if l.TCPEnabled() {
		if _, port, err := net.SplitHostPort(l.TCP.Address); err != nil {
			bad("tcp.address", "must be host:port: %v", err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("tcp.address", "port %q is not a number from 0 to 65535", port)
		} else if l.TCPNonLoopback() && !l.TCP.AllowNonLoopback {
			bad("tcp.address", "%s is not a loopback address; set tcp.allow_non_loopback: true to listen on it", l.TCP.Address)
		}
		if n := len(l.TCP.SharedSecret); n < MinSecretLen && l.secretErr == nil {
			if n == 0 {
				bad("tcp.shared_secret", "is required when TCP is enabled (or tcp.shared_secret_file)")
			} else {
				bad("tcp.shared_secret", "must be at least %d characters; it has %d", MinSecretLen, n)
			}
		}
		if l.TCP.AuthTimeout <= 0 {
			bad("tcp.auth_timeout", "must be positive")
		}
		if l.TCP.MaxUnauthenticated < 1 {
			bad("tcp.max_unauthenticated", "must be at least 1")
		}
		if t := l.TCP.TLS; t.Enabled() {
			if t.CertFile == "" || t.KeyFile == "" {
				bad("tcp.tls", "needs both cert_file and key_file")
			}
			for _, f := range []struct{ key, path string }{{"tcp.tls.cert_file", t.CertFile}, {"tcp.tls.key_file", t.KeyFile}, {"tcp.tls.client_ca_file", t.ClientCAFile}} {
				if f.path == "" {
					continue
				}
				if _, err := os.Stat(f.path); err != nil {
					bad(f.key, "%v", err)
				}
			}
		}
	} else if l.TCP.TLS.Enabled() {
		bad("tcp.tls", "is set but TCP is not enabled")
	}
	lim := l.Limits
	if lim.MaxLineBytes < 1024 {
		bad("limits.max_line_bytes", "must be at least 1KiB")
	}
	if lim.MaxBatchEntries < 1 {
		bad("limits.max_batch_entries", "must be at least 1")
	}
	if lim.MaxConnections < 1 {
		bad("limits.max_connections", "must be at least 1")
	}
	if lim.WriteTimeout <= 0 {
		bad("limits.write_timeout", "must be positive")
	}
	if lim.IdleTimeout < 0 {
		bad("limits.idle_timeout", "must not be negative (0 turns it off)")
	}
	if lim.MaxPerPeer < 0 {
		bad("limits.max_connections_per_peer", "must not be negative (0 turns it off)")
	}
	if lim.RateLimit < 0 {
		bad("limits.rate_limit", "must not be negative (0 turns it off)")
	}
	if lim.AuthFailures < 1 {
		bad("limits.auth_failures", "must be at least 1")
	}
	if lim.AuthBlock <= 0 {
		bad("limits.auth_block", "must be positive")
	}
	if lim.MaxBufferedBytes < lim.MaxLineBytes {
		bad("limits.max_buffered_bytes", "must be at least limits.max_line_bytes (%s), or the longest line could never be read", lim.MaxLineBytes)
	}
	if lim.MaxPerProcess < 0 {
		bad("limits.max_connections_per_process", "must not be negative (0 turns it off)")
	}
	if lim.FirstLineTimeout < 0 {
		bad("limits.first_line_timeout", "must not be negative (0 turns it off)")
	}
	return ps.Err()
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
