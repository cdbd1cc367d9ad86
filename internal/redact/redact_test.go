package redact

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logflux/agent/internal/protocol"
)

// Each detector on its own: what it must redact and what it must leave.
func TestDetectors(t *testing.T) {
	cases := []struct {
		detector string
		hit      []string
		miss     []string
	}{
		{"card", []string{"4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "3782 822463 10005", "2223003122003222"},
			[]string{"4111111111111112", "4111 1111-1111 1111", "1234567890123452", "20251010123045", "41111111111111110000", "id4111111111111111"}},
		{"email", []string{"a.b@example.com", "x+tag@mail.example.co.uk"}, []string{"user@localhost", "@example.com", "a@b.c1"}},
		{"bearer", []string{"Bearer abcdefghijklmnop1234", "bearer ABCDEFGHIJKLMNOP.qrs"}, []string{"Bearer short", "the bearer of bad news"}},
		{"jwt", []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}, []string{"eyJ only", "keyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x"}},
		{"aws", []string{"AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, []string{"AKIAIOSFODNN7EXAMPL", "XAKIAIOSFODNN7EXAMPLE", "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"github", []string{"ghp_R2d2C3poBb8aQx7YkLmN0pQrStUvWxYz0123", "github_pat_11ABCDEFG0123456789abcdefghij"}, []string{"ghp_short", "xghp_R2d2C3poBb8aQx7YkLmN0pQrStUvWxYz0123"}},
		{"gitlab", []string{"glpat-xY9zAbCdEfGhIjKlMnOp"}, []string{"glpat-short", "aglpat-xY9zAbCdEfGhIjKlMnOp"}},
		{"slack", []string{"xoxb-2345678901-AbCdEfGh", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXX"}, []string{"xoxz-2345678901-AbCdEfGh", "slack.com is a site"}},
		{"private_key", []string{"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----\ncut here"}, []string{"-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----"}},
		{"kv_secrets", []string{"password=hunter2", `"api_key": "k"`, "Authorization: Basic dXNlcjpwYXNzd29yZA==", "https://u:p@h.example", "clientSecret=x"},
			[]string{"password is hunter2", "max_tokens=1024", `"token": null`, "error: token expired", "passive=true"}},
		{"ip", []string{"10.0.0.1", "2001:db8::1", "::1"}, []string{"1.2.3", "10:30:00", "999.1.1.1", "v1.2.3.4x"}},
	}
	for _, tc := range cases {
		r := mustNew(t, &Config{Detectors: []string{tc.detector}})
		for _, s := range tc.hit {
			if got := redactPayload(t, r, "x "+s+" y"); !strings.Contains(got, "[REDACTED:"+tc.detector+"]") {
				t.Errorf("%s: %q not redacted: %s", tc.detector, s, got)
			}
		}
		for _, s := range tc.miss {
			if got := redactPayload(t, r, "x "+s+" y"); strings.Contains(got, "REDACTED") {
				t.Errorf("%s: %q redacted, but is not one: %s", tc.detector, s, got)
			}
		}
	}
}

// What is redacted leaves nothing of the secret in the output.
func TestNothingOfTheSecretRemains(t *testing.T) {
	r := mustNew(t, &Config{})
	secrets := []string{"4111111111111111", "jane@example.org", "hunter2pass", "AKIAIOSFODNN7EXAMPLE"}
	got := redactPayload(t, r, `{"card":"4111 1111 1111 1111","mail":"jane@example.org","password":"hunter2pass"} AKIAIOSFODNN7EXAMPLE`)
	for _, s := range secrets {
		if strings.Contains(strings.ReplaceAll(got, " ", ""), s) {
			t.Errorf("%q still in %s", s, got)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := &Config{
		Detectors: []string{"card", "nope", "card"},
		Action:    "shred",
		Keys:      []string{"[bad"},
		Rules: []Rule{
			{Name: "a", Pattern: "EMP-[0-9"},
			{Name: "a", Pattern: "x*"},
			{Name: "bad name!", Detector: "card", Pattern: "y"},
			{Name: "h", Pattern: "z", Action: ActionHash, EntryTypes: []string{"audit", "debug"}},
		},
	}
	err := c.Validate()
	want := []string{
		`detectors[1]: unknown detector "nope"`,
		`detectors[2]: "card" is listed twice`,
		`action: must be mask, hash or drop_entry, not "shred"`,
		`keys[0]: "[bad" is not a valid glob`,
		`rules[0].pattern: invalid at offset 4 ("[0-9"): missing closing ]`,
		`rules[1].name: "a" is already the name`,
		`rules[1].pattern: matches the empty string`,
		`rules[2].name: "bad name!" must be`,
		`rules[2]: has both a pattern and a detector`,
		`rules[3].entry_types[1]: unknown entry type "debug"`,
		`hash_key_file: action hash needs a key`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("problems are not *Error: %T", err)
	}
	if _, err := New(c, nil); err == nil {
		t.Error("New accepted an invalid configuration")
	}
}

func TestHashKeyFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("0123456789abcdef-file\n"), 0o600)
	rules := []Rule{{Name: "emp", Pattern: "EMP-[0-9]{6}", Action: ActionHash}}
	fromFile := mustNew(t, &Config{Detectors: []string{}, HashKeyFile: key, Rules: rules})
	t.Setenv("REDACT_TEST_KEY", "0123456789abcdef-env")
	fromEnv := mustNew(t, &Config{Detectors: []string{}, HashKey: "${REDACT_TEST_KEY}", Rules: rules})

	a, b := redactPayload(t, fromFile, "EMP-000001"), redactPayload(t, fromFile, "again EMP-000001")
	i := strings.Index(a, "[HASH:")
	h := a[i : i+strings.Index(a[i:], "]")+1]
	if !strings.Contains(b, h) {
		t.Errorf("the same value hashes differently: %s, %s", a, b)
	}
	if strings.Contains(a, "000001") {
		t.Errorf("the value is readable: %s", a)
	}
	if c := redactPayload(t, fromEnv, "EMP-000001"); strings.Contains(c, h) {
		t.Errorf("another key gives the same hash: %s", c)
	}
	if d := redactPayload(t, fromFile, "EMP-000002"); strings.Contains(d, h) {
		t.Errorf("another value gives the same hash: %s", d)
	}
	for _, c := range []*Config{
		{HashKeyFile: filepath.Join(dir, "missing"), Rules: rules},
		{HashKey: "${REDACT_TEST_UNSET}", Rules: rules},
		{HashKey: "literal-key-in-config", Rules: rules},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}

// In a batch, the decoder's metadata list is shared by its entries: adding
// the marker to one entry must not overwrite the next one's metadata.
func TestBatchMetadataNotShared(t *testing.T) {
	r := mustNew(t, &Config{})
	es := decodeEntries(t, []byte(`{"entries":[`+
		`{"payload":"mail bob@example.com","entryType":1,"source":"a","logLevel":6,"metadata":{"k":"1"}},`+
		`{"payload":"plain","entryType":1,"source":"a","logLevel":6,"metadata":{"k":"2","j":"3"}}]}`))
	es = r.Filter(es)
	if got := string(view(&es[1], nil, false)); got != `{"fired":[],"payload":"plain","metadata":{"k":"2","j":"3"}}` {
		t.Errorf("second entry changed: %s", got)
	}
	if got := string(view(&es[0], nil, false)); !strings.Contains(got, `"redacted":"email"`) {
		t.Errorf("first entry: %s", got)
	}
}

func TestDropEntryFilter(t *testing.T) {
	m := NewMetrics()
	r, err := New(&Config{Detectors: []string{}, Rules: []Rule{{Name: "never", Pattern: "TOPSECRET", Action: ActionDropEntry}}}, m)
	if err != nil {
		t.Fatal(err)
	}
	es := decodeEntries(t, []byte(`{"entries":[`+
		`{"payload":"a","entryType":1,"source":"s","logLevel":6},`+
		`{"payload":"b TOPSECRET","entryType":1,"source":"s","logLevel":6},`+
		`{"payload":"c","entryType":1,"source":"s","logLevel":6,"metadata":{"x":"TOPSECRET"}},`+
		`{"payload":"d","entryType":1,"source":"s","logLevel":6}]}`))
	es = r.Filter(es)
	if len(es) != 2 || string(es[0].Payload) != "a" || string(es[1].Payload) != "d" {
		t.Fatalf("kept %d entries", len(es))
	}
	st := m.Stats()
	for _, rs := range st.Rules {
		if rs.Rule == "never" && rs.Drops != 2 {
			t.Errorf("drops counted %d, want 2", rs.Drops)
		}
	}
}

// A replacement can be longer than what it replaces; the entry must still
// meet the contract's limits, and stay valid UTF-8.
func TestLimitsKept(t *testing.T) {
	r := mustNew(t, &Config{Detectors: []string{}, Rules: []Rule{{Name: "a-rule-with-a-long-name-to-grow-every-match", Pattern: "a"}}})
	payload := []byte(strings.Repeat("aé", protocol.MaxPayloadBytes/3))
	val := []byte(strings.Repeat("a", protocol.MaxMetaValueChars))
	e := protocol.Entry{Payload: payload, Source: []byte("s"), EntryType: 1, LogLevel: 6, Metadata: []protocol.KV{{Key: []byte("k"), Value: val}}}
	r.Apply(&e)
	if len(e.Payload) > protocol.MaxPayloadBytes || !utf8.Valid(e.Payload) {
		t.Errorf("payload %d bytes, valid UTF-8 %v", len(e.Payload), utf8.Valid(e.Payload))
	}
	if n := utf8.RuneCount(e.Metadata[0].Value); n > protocol.MaxMetaValueChars {
		t.Errorf("metadata value %d characters", n)
	}
	if !strings.HasPrefix(string(e.Payload), "[REDACTED:") {
		t.Errorf("payload starts %q", e.Payload[:20])
	}
}

func TestScopes(t *testing.T) {
	r := mustNew(t, &Config{
		Detectors:  []string{"email"},
		EntryTypes: []string{"log"},
		Rules:      []Rule{{Name: "emp", Pattern: "EMP-[0-9]+", Sources: []string{"hr-*"}}},
	})
	for _, tc := range []struct {
		source string
		typ    int
		want   string
	}{
		{"hr-payroll", 1, "[REDACTED:email] [REDACTED:emp]"},
		{"web", 1, "[REDACTED:email] EMP-1"},
		{"hr-payroll", 5, "a@example.com [REDACTED:emp]"},
		{"web", 5, "a@example.com EMP-1"},
	} {
		e := protocol.Entry{Payload: []byte("a@example.com EMP-1"), Source: []byte(tc.source), EntryType: tc.typ, LogLevel: 6}
		r.Apply(&e)
		if string(e.Payload) != tc.want {
			t.Errorf("%s type %d: %q, want %q", tc.source, tc.typ, e.Payload, tc.want)
		}
	}
}

func TestLiveSwapsWhole(t *testing.T) {
	l := NewLive()
	es := []protocol.Entry{{Payload: []byte("bob@example.com"), Source: []byte("s"), EntryType: 1, LogLevel: 6}}
	if got := l.Filter(es); string(got[0].Payload) != "bob@example.com" {
		t.Errorf("off: %q", got[0].Payload)
	}
	r, err := l.Compile(&Config{Detectors: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Set(r)
	if got := l.Filter(es); string(got[0].Payload) != "[REDACTED:email]" {
		t.Errorf("on: %q", got[0].Payload)
	}
	if st := l.Metrics().Stats(); len(st.Rules) == 0 {
		t.Error("no counters")
	}
}
