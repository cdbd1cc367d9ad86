package logflux

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected payloads of testdata/mapping")

var fixedNow = time.Date(2026, 11, 25, 9, 31, 0, 0, time.UTC)

// TestMappingGolden maps each testdata/mapping/*.json entry and compares the
// payload with the file's (or the error with its substring).
func TestMappingGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/mapping/*.json")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var g struct {
				Entry   json.RawMessage `json:"entry"`
				Payload json.RawMessage `json:"payload,omitempty"`
				Error   string          `json:"error,omitempty"`
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			var rec bytes.Buffer
			json.Compact(&rec, g.Entry)
			m, err := mapRecord(rec.Bytes(), fixedNow)
			if g.Error != "" {
				if err == nil || !strings.Contains(err.Error(), g.Error) {
					t.Errorf("error = %v; want one containing %q", err, g.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				g.Payload = m.json
				var out bytes.Buffer
				enc := json.NewEncoder(&out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				enc.Encode(g)
				os.WriteFile(file, out.Bytes(), 0o644)
				return
			}
			var got, want any
			json.Unmarshal(m.json, &got)
			if err := json.Unmarshal(g.Payload, &want); err != nil {
				t.Fatalf("golden payload: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("payload =\n%s\nwant\n%s", m.json, g.Payload)
			}
			checkLossless(t, rec.Bytes(), m.json)
		})
	}
}

// checkLossless rebuilds the agent entry from its payload and compares it
// with the original: the mapping must lose nothing.
func checkLossless(t *testing.T, rec, payloadJSON []byte) {
	t.Helper()
	var in entry
	if err := json.Unmarshal(rec, &in); err != nil {
		t.Fatal(err)
	}
	var p payload
	if err := json.Unmarshal(payloadJSON, &p); err != nil {
		t.Fatal(err)
	}
	out := entry{
		ID: p.Meta.ID, ReceivedAt: p.Meta.ReceivedAt, Version: "1.0", LogLevel: p.Level,
		Source: p.Source, PayloadType: p.Meta.PayloadType,
	}
	for n, name := range typeNames {
		if name == p.Type {
			out.EntryType = n
		}
	}
	if p.Meta.EntryVersion != "" {
		out.Version = p.Meta.EntryVersion
	}
	if p.Meta.OriginalSource != "" {
		out.Source = p.Meta.OriginalSource
	}
	switch {
	case p.Meta.OriginalPayload != nil:
		out.Payload = *p.Meta.OriginalPayload
	case p.Type == "log":
		out.Payload = p.Message
	case p.Type == "metric", p.Type == "trace":
		out.Payload = p.Name
	case p.Type == "event":
		out.Payload = p.Event
	case p.Type == "audit":
		out.Payload = p.Action
	}
	md := maps.Clone(p.Attributes)
	if md == nil {
		md = map[string]string{}
	}
	maps.Copy(md, p.Meta.MetadataOverflow)
	if len(md) > 0 {
		out.Metadata = md
	}
	// Normalise what the agent leaves to defaults.
	if in.Version == "" {
		in.Version = "1.0"
	}
	if in.PayloadType == "" {
		in.PayloadType = "generic"
	}
	if len(in.Metadata) == 0 {
		in.Metadata = nil
	}
	ts, ok := parseTime(in.Timestamp)
	switch {
	case ok:
		if got, _ := time.Parse(time.RFC3339Nano, p.TS); !got.Equal(ts) {
			t.Errorf("ts %s is not the timestamp %s", p.TS, in.Timestamp)
		}
		out.Timestamp = in.Timestamp
	case in.Timestamp != "":
		out.Timestamp = p.Meta.OriginalTimestamp
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("entry rebuilt from the payload differs:\n in %+v\nout %+v", in, out)
	}
}

// FuzzMappingLossless maps arbitrary entries and checks that the payload is
// valid JSON from which the entry can be rebuilt.
func FuzzMappingLossless(f *testing.F) {
	f.Add(1, 7, "src", "generic", "hello", "k", "v", "2026-11-25T09:29:59Z")
	f.Add(2, 6, "node", "generic_json", `{"name":"x","value":1}`, strings.Repeat("k", 70), "v", "")
	f.Add(5, 5, strings.Repeat("ü", 300), "generic_json", `{"action":"a","x":[1]}`, "k", strings.Repeat("v", 300), "bad")
	f.Add(3, 1, "s", "generic_json", `{"operation":"op","trace_id":"nothex"}`, "", "", "2026-11-25T10:00:00+02:00")
	f.Fuzz(func(t *testing.T, entryType, level int, source, payloadType, payload, mk, mv, ts string) {
		if source == "" {
			// Outside what reaches an output: the agent refuses an entry
			// without a source, so no record in the queue lacks one. (The
			// mapping sends "unknown" for it, which cannot be told apart.)
			t.Skip()
		}
		e := map[string]any{
			"id": "0190f5a2-7c3e-7d41-9a6b-3c2d1e0f4a5b", "receivedAt": "2026-11-25T09:30:00Z", "version": "1.0",
			"entryType": entryType, "logLevel": level, "source": source, "payloadType": payloadType,
			"payload": payload, "metadata": map[string]string{mk: mv, "fixed": "x"}, "timestamp": ts,
		}
		rec, err := json.Marshal(e)
		if err != nil {
			t.Skip()
		}
		m, err := mapRecord(rec, fixedNow)
		if err != nil {
			return // refused entries go to the dead-letter store whole
		}
		if !json.Valid(m.json) {
			t.Fatalf("payload is not JSON: %s", m.json)
		}
		checkLossless(t, rec, m.json)
	})
}

func TestMapRecordNotAnEntry(t *testing.T) {
	for _, rec := range []string{"", "not json", "[1,2]", `{"entryType":"1"}`} {
		m, err := mapRecord([]byte(rec), fixedNow)
		if err == nil {
			t.Errorf("%q: mapped", rec)
		}
		if !strings.HasPrefix(m.key, "sha256:") {
			t.Errorf("%q: key %q; want a hash of the record", rec, m.key)
		}
	}
}

func TestSplitMetadataOrderAndLimits(t *testing.T) {
	md := map[string]string{}
	for i := range 60 {
		md[string(rune('A'+i))] = "v"
	}
	md["é"+strings.Repeat("k", 63)] = strings.Repeat("ü", 256) // 64 characters, 256 characters: fits
	attrs, over := splitMetadata(md)
	if len(attrs) != 50 || len(over) != 11 || len(attrs)+len(over) != len(md) {
		t.Fatalf("attrs %d, overflow %d", len(attrs), len(over))
	}
	if _, ok := attrs["A"]; !ok {
		t.Error("keys are not taken in sorted order")
	}
	if _, ok := over["é"+strings.Repeat("k", 63)]; !ok {
		t.Error("the last key in sort order should overflow")
	}
}
