package redact

import (
	"bytes"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/protocol"
)

// loadConfig reads a redact section from a YAML file, strictly.
func loadConfig(t testing.TB, path string) *Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseConfig(t, data)
}

func parseConfig(t testing.TB, data []byte) *Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func mustNew(t testing.TB, c *Config) *Redactor {
	t.Helper()
	r, err := New(c, NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		t.Fatal("redaction is off for this configuration")
	}
	return r
}

// decodeEntries decodes one line as a client would send it.
func decodeEntries(t testing.TB, line []byte) []protocol.Entry {
	t.Helper()
	var d protocol.Decoder
	msg, err := d.Decode(line)
	if err != nil {
		t.Fatalf("decoding %s: %v", line, err)
	}
	// The entries point into the decoder's buffers; a fresh decoder per
	// line keeps them valid for the test.
	return msg.Entries
}

// view is what a reader sees of a redacted entry.
func view(e *protocol.Entry, fired []string, drop bool) []byte {
	var b []byte
	b = append(b, `{"fired":[`...)
	for i, f := range fired {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, f)
	}
	b = append(b, ']')
	if drop {
		return append(b, `,"dropped":true}`...)
	}
	b = append(b, `,"payload":`...)
	b = protocol.AppendString(b, string(e.Payload))
	if len(e.Metadata) > 0 {
		b = append(b, `,"metadata":{`...)
		for i, kv := range e.Metadata {
			if i > 0 {
				b = append(b, ',')
			}
			b = protocol.AppendString(b, string(kv.Key))
			b = append(b, ':')
			b = protocol.AppendString(b, string(kv.Value))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// redactPayload redacts a log entry with this payload and returns what a
// reader sees.
func redactPayload(t testing.TB, r *Redactor, payload string) string {
	t.Helper()
	e := protocol.Entry{Payload: []byte(payload), Source: []byte("test"), EntryType: 1, LogLevel: 6}
	fired, drop := r.Apply(&e)
	return string(view(&e, fired, drop))
}
