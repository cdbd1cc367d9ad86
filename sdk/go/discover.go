package logflux

import (
	"fmt"
	"net"
	"strings"
)

// Environment variables read by New when Config leaves the field empty.
const (
	EnvAgentAddr    = "LOGFLUX_AGENT_ADDR"
	EnvSharedSecret = "LOGFLUX_SHARED_SECRET"
)

// defaultSockets are the Unix sockets tried, in order, when neither Config
// nor the environment names an address.
var defaultSockets = []string{"/tmp/logflux-agent.sock", "/var/run/logflux-agent/agent.sock"}

// endpoint is one address the agent may listen on.
type endpoint struct {
	network string // "unix" or "tcp"
	address string // socket path or host:port
}

func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix://" + e.address
	}
	return "tcp://" + e.address
}

// parseAddr reads "unix:///path" or "tcp://host:port".
func parseAddr(s string) (endpoint, error) {
	switch {
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if !strings.HasPrefix(p, "/") {
			return endpoint{}, fmt.Errorf("logflux: address %q: a unix address needs an absolute path (unix:///path)", s)
		}
		return endpoint{"unix", p}, nil
	case strings.HasPrefix(s, "tcp://"):
		hp := strings.TrimPrefix(s, "tcp://")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || port == "" {
			return endpoint{}, fmt.Errorf("logflux: address %q: want tcp://host:port", s)
		}
		return endpoint{"tcp", net.JoinHostPort(host, port)}, nil
	}
	return endpoint{}, fmt.Errorf("logflux: address %q: want unix:///path or tcp://host:port", s)
}

// discover returns the endpoints to try, in order: the configured address,
// else the one in the environment, else the default sockets.
func discover(addr string, getenv func(string) string) ([]endpoint, error) {
	if addr == "" {
		addr = getenv(EnvAgentAddr)
		if addr != "" {
			ep, err := parseAddr(addr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", EnvAgentAddr, err)
			}
			return []endpoint{ep}, nil
		}
		eps := make([]endpoint, len(defaultSockets))
		for i, p := range defaultSockets {
			eps[i] = endpoint{"unix", p}
		}
		return eps, nil
	}
	ep, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	return []endpoint{ep}, nil
}
