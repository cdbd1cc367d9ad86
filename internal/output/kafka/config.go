package kafka

import (
	"fmt"
	"net"
	"strings"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/remote"
)

// Config is a kafka output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	// Brokers are the seed brokers, host:port (at least one).
	Brokers []string `yaml:"brokers"`
	// Topic is the topic to write to, a template: `logs`, `logs.{source}`,
	// `logs.{entryType}`.
	Topic string `yaml:"topic"`
	// Key is what a record's key is: the entry's id (even spread over the
	// partitions), its source (a source's entries stay in order on one
	// partition) or none (the client spreads batches over the partitions).
	Key string `yaml:"key"`
	// Compression of record batches: zstd, lz4, snappy (default), gzip or none.
	Compression string `yaml:"compression"`
	// Acks is all (default: every in-sync replica, with the idempotent
	// producer) or leader (the leader alone, without idempotence).
	Acks string `yaml:"acks"`
	// MaxMessageBytes is the largest record batch the client sends; an
	// entry larger than this is refused and dead-lettered. It must not
	// exceed the brokers' message.max.bytes.
	MaxMessageBytes component.ByteSize `yaml:"max_message_bytes"`
	// ClientID names the agent to the brokers.
	ClientID string `yaml:"client_id"`
	SASL     SASL   `yaml:"sasl"`
}

// SASL authenticates to the brokers.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Defaults.
const (
	DefaultTopic           = "logs"
	DefaultMaxMessageBytes = 1000012 // Kafka's own default message.max.bytes
)

// Finish has nothing to fill in.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.Common.Validate(&ps)
	if len(c.Brokers) == 0 {
		ps.Add("brokers", "at least one broker (host:port) is needed")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			ps.Add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if t, err := remote.ParseTemplate(c.Topic, cleanTopic); err != nil {
		ps.Add("topic", "%v", err)
	} else if s := t.Sample(); s == "" || s == "." || s == ".." || len(s) > 249 || cleanTopic(s) != s {
		ps.Add("topic", "%q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", c.Topic)
	}
	if c.Key != "id" && c.Key != "source" && c.Key != "none" {
		ps.Add("key", "%q is not id, source or none", c.Key)
	}
	if codec(c.Compression) < 0 {
		ps.Add("compression", "%q is not one of zstd, lz4, snappy, gzip, none", c.Compression)
	}
	switch c.Acks {
	case "all", "leader":
	case "none", "0":
		ps.Add("acks", "none would count entries as delivered that no broker acknowledged; use all or leader")
	default:
		ps.Add("acks", "%q is not all or leader", c.Acks)
	}
	if c.MaxMessageBytes < 1024 {
		ps.Add("max_message_bytes", "must be at least 1KiB")
	} else if c.MaxMessageBytes > 1<<30 {
		ps.Add("max_message_bytes", "must be at most 1GiB")
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" || c.SASL.PasswordFile != "" {
			ps.Add("sasl.mechanism", "is needed with a username or password (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			ps.Add("sasl.username", "is needed with sasl.mechanism")
		}
		if c.SASL.Password == "" && c.SASL.PasswordFile == "" {
			ps.Add("sasl.password", "is needed with sasl.mechanism (or sasl.password_file)")
		}
		var sub component.Problems
		remote.CheckSecret(&sub, "password", c.SASL.Password, c.SASL.PasswordFile)
		for _, p := range component.Split(sub.Err()) {
			ps.Add(component.JoinKey("sasl", p.Key), "%s", p.Message)
		}
	default:
		ps.Add("sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism)
	}
	return ps.Err()
}

// cleanTopic replaces what a Kafka topic name cannot hold with '_'.
func cleanTopic(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !topicByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !topicByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func topicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
