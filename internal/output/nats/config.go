package nats

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/remote"
)

// Config is a nats output's section of the configuration.
type Config struct {
	remote.Common `yaml:",inline"`
	// URL is the server, or a list of servers of one cluster
	// (nats://host:4222, tls://host:4222).
	URL URLs `yaml:"url"`
	// Subject is where entries are published, a template: `logs`,
	// `logs.{source}`, `logs.{entryType}`.
	Subject string `yaml:"subject"`
	// JetStream publishes into a stream and waits for its acknowledgement
	// (default). false: plain core NATS, at most once.
	JetStream bool `yaml:"jetstream"`
	// Stream is the JetStream stream the subject belongs to. It must exist
	// unless create_stream gives its subjects.
	Stream       string       `yaml:"stream"`
	CreateStream CreateStream `yaml:"create_stream"`
	// Authentication: a credentials file (JWT and seed), a token, or an
	// nkey seed file.
	CredentialsFile string `yaml:"credentials_file"`
	Token           string `yaml:"token"`
	TokenFile       string `yaml:"token_file"`
	NkeyFile        string `yaml:"nkey_file"`
	// Name is the connection's name on the server.
	Name string `yaml:"name"`
}

// CreateStream makes the stream when it does not exist.
type CreateStream struct {
	// Subjects of the stream to create; empty: do not create the stream.
	Subjects []string `yaml:"subjects"`
	// DuplicateWindow is how long the server remembers message ids to
	// drop duplicates (an agent restart within it publishes no duplicate).
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// MaxAge drops messages older than this (0: keep them).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes bounds the stream's size (0: no bound).
	MaxBytes component.ByteSize `yaml:"max_bytes"`
	// Storage is file (default) or memory.
	Storage  string `yaml:"storage"`
	Replicas int    `yaml:"replicas"`
}

// URLs is one URL or a list of them.
type URLs []string

// UnmarshalYAML takes a string or a list of strings.
func (u *URLs) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*u = URLs{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*u = l
		return nil
	}
	return fmt.Errorf("must be a URL or a list of URLs")
}

// Defaults.
const (
	DefaultURL             = "nats://127.0.0.1:4222"
	DefaultSubject         = "logs.{source}"
	DefaultStream          = "LOGS"
	DefaultDuplicateWindow = 2 * time.Minute
)

// Finish has nothing to fill in.
func (c *Config) Finish(component.Env) {}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	c.Common.Validate(&ps)
	if len(c.URL) == 0 {
		ps.Add("url", "at least one server URL is needed")
	}
	for i, s := range c.URL {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			ps.Add(fmt.Sprintf("url[%d]", i), "%q is not a nats:// or tls:// URL", s)
		}
	}
	constant := ""
	if t, err := remote.ParseTemplate(c.Subject, cleanToken); err != nil {
		ps.Add("subject", "%v", err)
	} else if !validSubject(t.Sample()) {
		ps.Add("subject", "%q is not a subject to publish to (dot-separated tokens, no spaces, * or >)", c.Subject)
	} else {
		constant, _ = t.Constant()
	}
	if c.JetStream {
		if c.Stream == "" || strings.ContainsAny(c.Stream, ". *>\t\r\n") {
			ps.Add("stream", "%q is not a stream name (no spaces, '.', '*' or '>')", c.Stream)
		}
		cs := c.CreateStream
		for i, s := range cs.Subjects {
			if !validFilter(s) {
				ps.Add(fmt.Sprintf("create_stream.subjects[%d]", i), "%q is not a subject", s)
			}
		}
		if len(cs.Subjects) > 0 && constant != "" && !matchesAny(cs.Subjects, constant) {
			ps.Add("create_stream.subjects", "none of %v takes the subject %q", cs.Subjects, c.Subject)
		}
		if cs.DuplicateWindow <= 0 {
			ps.Add("create_stream.duplicate_window", "must be positive (e.g. 2m)")
		}
		if cs.Storage != "file" && cs.Storage != "memory" {
			ps.Add("create_stream.storage", "%q is not file or memory", cs.Storage)
		}
		if cs.Replicas < 1 || cs.Replicas > 5 {
			ps.Add("create_stream.replicas", "must be from 1 to 5")
		}
		if cs.MaxAge < 0 || cs.MaxBytes < 0 {
			ps.Add("create_stream", "max_age and max_bytes must not be negative")
		}
	} else if len(c.CreateStream.Subjects) > 0 {
		ps.Add("create_stream", "needs jetstream: true")
	}
	set := 0
	for _, s := range []string{c.CredentialsFile, c.Token + c.TokenFile, c.NkeyFile} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		ps.Add("credentials_file", "set one of credentials_file, token (or token_file) and nkey_file")
	}
	remote.CheckSecret(&ps, "token", c.Token, c.TokenFile)
	for _, f := range []struct{ key, path string }{{"credentials_file", c.CredentialsFile}, {"nkey_file", c.NkeyFile}} {
		if f.path != "" {
			if _, err := remote.Secret("", f.path); err != nil {
				ps.Add(f.key, "cannot read %s", f.path)
			}
		}
	}
	return ps.Err()
}

// cleanToken makes a field's value one subject token: '.', '*', '>' and
// white space become '_'.
func cleanToken(s string) string {
	if s == "" {
		return "_"
	}
	if !strings.ContainsAny(s, ".*> \t\r\n") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch c {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			b[i] = '_'
		}
	}
	return string(b)
}

// validSubject reports whether s can be published to.
func validSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// validFilter reports whether s is a subject, wildcards allowed.
func validFilter(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		if tok == "" || (tok == ">" && i != len(toks)-1) {
			return false
		}
	}
	return true
}

// matchesAny reports whether one of filters takes subject.
func matchesAny(filters []string, subject string) bool {
	for _, f := range filters {
		if matches(f, subject) {
			return true
		}
	}
	return false
}

func matches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}
