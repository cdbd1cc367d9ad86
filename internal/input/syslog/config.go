package syslog

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/config"
)

// Config is a syslog input's configuration.
type Config struct {
	// Address is where to listen: udp://HOST:PORT, tcp://HOST:PORT or
	// unix:///PATH (a datagram socket, like /dev/log).
	Address string `yaml:"address"`
	// MaxMessageBytes is the longest message kept whole; a longer one is
	// cut to it and marked truncated (default 64KiB).
	MaxMessageBytes component.ByteSize `yaml:"max_message_bytes"`
	// TLS serves TCP with TLS (RFC 5425); tcp:// only.
	TLS config.TLSConfig `yaml:"tls"`
	// Source is every entry's source; empty: the message's APP-NAME (TAG),
	// else its HOSTNAME, else "syslog".
	Source string `yaml:"source"`
	// Timezone is the zone of RFC 3164 timestamps, which carry none
	// ("Local", "UTC", "Europe/Berlin"; default Local).
	Timezone string `yaml:"timezone"`
	// SocketMode is the permission bits of a unix:// socket (default 0666,
	// like /dev/log: any local program may log).
	SocketMode component.FileMode `yaml:"socket_mode"`
	// MaxConnections bounds TCP connections at once (default 256); more
	// are closed at once.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a TCP connection silent this long (default 10m,
	// 0: never).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ReceiveBuffer is the kernel's receive buffer for udp:// and unix://
	// sockets, where bursts wait while the input appends (default 8MiB).
	// Linux caps it at net.core.rmem_max unless the agent has
	// CAP_NET_ADMIN; the granted size is logged when it is less.
	ReceiveBuffer component.ByteSize `yaml:"receive_buffer"`

	network, addr string // from Address
	loc           *time.Location
}

// DefaultMaxMessageBytes is max_message_bytes unless set.
const DefaultMaxMessageBytes = 64 << 10

// DefaultReceiveBuffer is receive_buffer unless set.
const DefaultReceiveBuffer = 8 << 20

func defaults() *Config {
	return &Config{MaxMessageBytes: DefaultMaxMessageBytes, SocketMode: 0o666, MaxConnections: 256, IdleTimeout: 10 * time.Minute, Timezone: "Local", ReceiveBuffer: DefaultReceiveBuffer}
}

// Finish does nothing: a syslog input depends on nothing else.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.network, c.addr = "", ""
	switch u, err := url.Parse(c.Address); {
	case c.Address == "":
		ps.Add("address", "is required: udp://127.0.0.1:5514, tcp://127.0.0.1:5514 or unix:///run/logflux/syslog.sock")
	case err != nil:
		ps.Add("address", "%q is not a URL such as udp://127.0.0.1:5514", c.Address)
	case u.Scheme == "udp" || u.Scheme == "tcp":
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Path != "" {
			ps.Add("address", "%q needs a host and port, such as %s://127.0.0.1:5514", c.Address, u.Scheme)
		}
		c.network, c.addr = u.Scheme, u.Host
	case u.Scheme == "unix":
		p := u.Path
		if u.Host != "" { // unix://relative/path
			p = u.Host + u.Path
		}
		if p == "" {
			ps.Add("address", "%q needs a path, such as unix:///run/logflux/syslog.sock", c.Address)
		}
		c.network, c.addr = "unixgram", p
	default:
		ps.Add("address", "%q: the scheme must be udp, tcp or unix", c.Address)
	}
	if c.MaxMessageBytes < 480 || c.MaxMessageBytes > 16<<20 {
		ps.Add("max_message_bytes", "must be from 480 bytes (RFC 5424's minimum) to 16MiB")
	}
	if c.TLS.Enabled() {
		if c.network != "tcp" && c.network != "" {
			ps.Add("tls", "TLS is for tcp:// addresses only")
		}
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			ps.Add("tls", "needs both cert_file and key_file")
		}
	}
	if c.ReceiveBuffer < 4<<10 || c.ReceiveBuffer > 1<<30 {
		ps.Add("receive_buffer", "must be from 4KiB to 1GiB")
	}
	if c.MaxConnections < 1 {
		ps.Add("max_connections", "must be at least 1")
	}
	if c.IdleTimeout < 0 {
		ps.Add("idle_timeout", "must not be negative")
	}
	if len(c.Source) > 256 {
		ps.Add("source", "must be at most 256 characters")
	}
	switch loc, err := time.LoadLocation(strings.TrimSpace(c.Timezone)); {
	case c.Timezone == "" || strings.EqualFold(c.Timezone, "local"):
		c.loc = time.Local
	case err != nil:
		ps.Add("timezone", "%q is not a time zone such as UTC or Europe/Berlin", c.Timezone)
	default:
		c.loc = loc
	}
	return ps.Err()
}

// listenerKey is what a listener depends on: when it changes on reload,
// the listener is opened anew.
func (c *Config) listenerKey() string {
	return fmt.Sprintf("%s|%s|%v|%v|%d", c.network, c.addr, c.TLS, c.SocketMode, c.ReceiveBuffer)
}
