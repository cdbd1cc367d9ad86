// Package client is a small synchronous Agent API client for the command line, the benchmark tool and tests.
package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultAddr is where the agent listens when nothing else is configured.
const DefaultAddr = "unix:///tmp/logflux-agent.sock"

// ParseAddr splits "unix:///path", "tcp://host:port", a bare absolute path or
// a bare host:port into a network and an address for net.Dial.
func ParseAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		network, address = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "tcp://"):
		network, address = "tcp", strings.TrimPrefix(addr, "tcp://")
	case strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "."):
		network, address = "unix", addr
	case strings.Contains(addr, ":"):
		network, address = "tcp", addr
	default:
		return "", "", fmt.Errorf("agent address %q: use unix:///path/to/socket or tcp://host:port", addr)
	}
	if address == "" {
		return "", "", fmt.Errorf("agent address %q has no path or host", addr)
	}
	return network, address, nil
}

// Response is one line the agent sent back.
type Response struct {
	Status   string       `json:"status"`
	Code     string       `json:"code,omitempty"`
	Message  string       `json:"message,omitempty"`
	Action   string       `json:"action,omitempty"`
	Accepted *int64       `json:"accepted,omitempty"`
	Rejected *int64       `json:"rejected,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	Raw      string       `json:"-"`
}

// FieldError is one entry problem in an error response.
type FieldError struct {
	Index   *int   `json:"index,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error makes an error response usable as an error.
func (r *Response) Error() string { return r.Code + ": " + r.Message }

// Conn is one connection to the agent.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	Network string
	Address string
}

// Dial connects to the agent at addr and, on TCP, authenticates with secret.
func Dial(addr, secret string, timeout time.Duration) (*Conn, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	nc, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to the agent at %s: %w", addr, err)
	}
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10), Network: network, Address: address}
	if network == "tcp" {
		if secret == "" {
			nc.Close()
			return nil, errors.New("the agent's TCP listener needs a shared secret: set --secret or LOGFLUX_SHARED_SECRET")
		}
		msg, _ := json.Marshal(map[string]string{"version": "1.0", "action": "authenticate", "shared_secret": secret})
		resp, err := c.Request(msg, timeout)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if resp.Status != "success" {
			nc.Close()
			return nil, fmt.Errorf("authentication refused: %w", resp)
		}
	}
	return c, nil
}

// Write queues one message line (without its newline).
func (c *Conn) Write(line []byte) error {
	if _, err := c.w.Write(line); err != nil {
		return err
	}
	return c.w.WriteByte('\n')
}

// Flush sends what Write queued.
func (c *Conn) Flush() error { return c.w.Flush() }

// Read reads the next response line.
func (c *Conn) Read(timeout time.Duration) (*Response, error) {
	if timeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(timeout))
		defer c.nc.SetReadDeadline(time.Time{})
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		if len(line) == 0 {
			return nil, fmt.Errorf("reading the agent's answer: %w", err)
		}
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("the agent answered something that is not JSON: %q", line)
	}
	resp.Raw = strings.TrimSpace(string(line))
	return &resp, nil
}

// Request sends one message and reads one response.
func (c *Conn) Request(msg []byte, timeout time.Duration) (*Response, error) {
	if timeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	if err := c.Write(msg); err != nil {
		return nil, err
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	return c.Read(timeout)
}

// Ping checks that the agent answers.
func (c *Conn) Ping(timeout time.Duration) error {
	resp, err := c.Request([]byte(`{"version":"1.0","action":"ping"}`), timeout)
	if err != nil {
		return err
	}
	if resp.Status != "pong" {
		return fmt.Errorf("unexpected answer to ping: %s", resp.Raw)
	}
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// NetConn exposes the underlying connection (for tests and the bench tool).
func (c *Conn) NetConn() net.Conn { return c.nc }
