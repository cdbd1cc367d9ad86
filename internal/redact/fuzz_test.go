package redact

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logflux/agent/internal/protocol"
)

// FuzzRedact: for any entry the decoder could produce, redaction never
// panics, never takes it past the contract's limits, keeps it valid UTF-8
// never leaves two metadata pairs with the same key, and its prefilter
// never rules out a detector that finds a match.
func FuzzRedact(f *testing.F) {
	f.Add("card 4111 1111 1111 1111 mail a@b.co", "password", "x=1", "app")
	f.Add(`{"password":"a\"b","token":"ghp_R2d2C3poBb8aQx7YkLmN0pQrStUvWxYz0123"}`, "redacted", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x", "hr-x")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nZZ", "k", "Bearer abcdefghijklmnopq 10.0.0.1 ::1", "s")
	f.Add("ü@ü.de EMP-123456 AKIAIOSFODNN7EXAMPLE https://u:p@h/", "Authorization", "Basic dXNlcjpwYXNz", "hr-a")
	f.Add(strings.Repeat("a@b.cc ", 200), "x-debug-1", strings.Repeat("é", 1024), "s")
	f.Add("at 12:00 paid 1234 5678 9012 3456 78 with 12345 6789 01234 5678 (4111-1111-1111-1111)", "k", "v", "s")
	f.Add("ids 4012888888881881 and 30569309025904 and 3782 822463 10005 and 3530 1113 3330 0000", "k", "v", "s")
	f.Setenv("REDACT_FUZZ_KEY", "fuzz-key-0123456789")
	r := mustNew(f, &Config{
		Detectors: append(append([]string{}, DefaultDetectors...), "ip"),
		Keys:      []string{"password", "*_token"},
		DropKeys:  []string{"x-debug-*"},
		HashKey:   "${REDACT_FUZZ_KEY}",
		Rules: []Rule{
			{Name: "emp", Pattern: "EMP-[0-9]{6}", Action: ActionHash, Sources: []string{"hr-*"}},
			{Name: "one-char-rule-with-a-long-name", Pattern: "[a-c]"},
		},
	})
	f.Fuzz(func(t *testing.T, payload, key, value, source string) {
		if payload == "" || !utf8.ValidString(payload) || !utf8.ValidString(key) || !utf8.ValidString(value) ||
			len(payload) > protocol.MaxPayloadBytes || utf8.RuneCountInString(value) > protocol.MaxMetaValueChars {
			return // the decoder refuses such entries
		}
		for _, text := range []string{payload, value} {
			have := anchors([]byte(text))
			for _, d := range detectors {
				if a, _ := d.find([]byte(text), 0); a >= 0 && d.need != 0 && have&d.need == 0 {
					t.Fatalf("%s finds a match in %q, but the prefilter's anchors %#x rule it out", d.name, text, have)
				}
			}
		}
		e := protocol.Entry{Payload: []byte(payload), Source: []byte(source), EntryType: 1 + len(source)%5, LogLevel: 6}
		if key != "" {
			e.Metadata = []protocol.KV{{Key: []byte(key), Value: []byte(value)}}
		}
		r.Apply(&e)
		if len(e.Payload) == 0 || len(e.Payload) > protocol.MaxPayloadBytes || !utf8.Valid(e.Payload) {
			t.Fatalf("payload %d bytes, valid UTF-8 %v", len(e.Payload), utf8.Valid(e.Payload))
		}
		seen := map[string]bool{}
		total := 0
		for _, kv := range e.Metadata {
			if seen[string(kv.Key)] {
				t.Fatalf("metadata key %q twice", kv.Key)
			}
			seen[string(kv.Key)] = true
			n := utf8.RuneCount(kv.Value)
			if n > protocol.MaxMetaValueChars || !utf8.Valid(kv.Value) || !utf8.Valid(kv.Key) {
				t.Fatalf("metadata %q: %d characters, valid UTF-8 %v", kv.Key, n, utf8.Valid(kv.Value))
			}
			total += n + utf8.RuneCount(kv.Key)
		}
		if total > protocol.MaxMetaChars {
			t.Fatalf("metadata holds %d characters", total)
		}
	})
}
