package protocol

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func decodeOne(t *testing.T, line string) (*Message, *Error) {
	t.Helper()
	var d Decoder
	return d.Decode([]byte(line))
}

func TestDecodeSingleEntry(t *testing.T) {
	m, err := decodeOne(t, `{"version":"1.0","payload":"User login \"ok\" \u00e9\ud83d\ude00","entryType":1,"source":"auth","logLevel":6,"timestamp":"2025-08-31T12:30:00.5+02:00","payloadType":"generic","metadata":{"service":"authentication","env":"prod"}}`)
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	if m.Kind != KindEntry || len(m.Entries) != 1 {
		t.Fatalf("kind %v entries %d", m.Kind, len(m.Entries))
	}
	e := m.Entries[0]
	if got, want := string(e.Payload), "User login \"ok\" é😀"; got != want {
		t.Errorf("payload %q, want %q", got, want)
	}
	if want := time.Date(2025, 8, 31, 10, 30, 0, 5e8, time.UTC); !e.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", e.Timestamp, want)
	}
	if len(e.Metadata) != 2 || string(e.Metadata[1].Value) != "prod" {
		t.Errorf("metadata %q", e.Metadata)
	}
	rec := AppendRecord(nil, &e, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	var out map[string]any
	if err := json.Unmarshal(rec, &out); err != nil {
		t.Fatalf("record is not JSON: %v\n%s", err, rec)
	}
	if out["payload"] != "User login \"ok\" é😀" || out["timestamp"] != "2025-08-31T10:30:00.5Z" || out["receivedAt"] != "2026-01-02T03:04:05.000000006Z" || out["entryType"] != 1.0 {
		t.Errorf("record %s", rec)
	}
	if id, _ := out["id"].(string); len(id) != 36 || id[14] != '7' {
		t.Errorf("id %q is not a UUIDv7", id)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		line, code, field string
	}{
		{`{"payload":"x","entryType":1,"source":"s","logLevel":"6"}`, CodeInvalidEntry, "logLevel"},
		{`{"payload":"x","entryType":1,"source":"s","logLevel":6.5}`, CodeInvalidEntry, "logLevel"},
		{`{"payload":"x","entryType":1,"source":"s","logLevel":99999999999999999999999}`, CodeInvalidEntry, "logLevel"},
		{`{"payload":"x","entryType":1,"source":"s","logLevel":6,"metadata":{"n":1}}`, CodeInvalidEntry, "metadata.n"},
		{`{"payload":"x","payload":"y","entryType":1,"source":"s","logLevel":6}`, CodeInvalidJSON, ""},
		{"{\"payload\":\"\xff\",\"entryType\":1,\"source\":\"s\",\"logLevel\":6}", CodeInvalidJSON, ""},
		{`{"payload":"\ud800","entryType":1,"source":"s","logLevel":6}`, CodeInvalidJSON, ""},
		{`[1,2]`, CodeInvalidMessage, ""},
		{`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, CodeInvalidJSON, ""},
		{`{"version":"2.0","action":"ping"}`, CodeUnsupportedVersion, ""},
		{`{"action":"nope"}`, CodeUnknownAction, ""},
		{`{"entries":[]}`, CodeInvalidMessage, ""},
		{`{"payload":"x"} {}`, CodeInvalidJSON, ""},
	}
	for _, c := range cases {
		m, err := decodeOne(t, c.line)
		if err == nil || err.Code != c.code {
			t.Errorf("%.60s: got %v, %v; want code %s", c.line, m, err, c.code)
			continue
		}
		if c.field != "" && (len(err.Errors) == 0 || err.Errors[0].Field != c.field) {
			t.Errorf("%.60s: errors %+v, want field %s", c.line, err.Errors, c.field)
		}
	}
}

func TestDecodeBatchPartial(t *testing.T) {
	m, err := decodeOne(t, `{"version":"1.0","entries":[{"payload":"a","entryType":1,"source":"s","logLevel":6},{"payload":"b","entryType":9,"source":"s","logLevel":6},7,{"payload":"d","entryType":1,"source":"s","logLevel":6,"version":"2.0"}]}`)
	if m == nil || len(m.Entries) != 1 || m.Total != 4 {
		t.Fatalf("msg %+v", m)
	}
	if err == nil || err.Code != CodeInvalidEntry || len(err.Errors) != 3 {
		t.Fatalf("err %+v", err)
	}
	for i, want := range []int{1, 2, 3} {
		if err.Errors[i].Index != want {
			t.Errorf("error %d index %d, want %d", i, err.Errors[i].Index, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":"1.0","payload":"x","entryType":1,"source":"s","logLevel":6,"metadata":{"a":"b"}}`))
	f.Add([]byte(`{"entries":[{"payload":"x","entryType":1,"source":"s","logLevel":6},{}]}`))
	f.Add([]byte(`{"action":"authenticate","shared_secret":"\u0041"}`))
	f.Add([]byte(`{"payload":"\ud83d\ude00","timestamp":"2025-01-01T00:00:00+01:00"}`))
	f.Add([]byte(`{"payload":"a\"b\\c\u0001\n","entryType":1,"source":"s\t","logLevel":6,"metadata":{"k\"":"v\u001f","x":"y"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var d Decoder
		m, err := d.Decode(line)
		if m == nil && err == nil {
			return
		}
		valid := json.Valid(line)
		if err != nil && err.Code == CodeInvalidJSON {
			return // the decoder is stricter than encoding/json (duplicates, surrogates, depth)
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		if m != nil {
			for i := range m.Entries {
				e := &m.Entries[i]
				rec := AppendRecord(nil, e, time.Now())
				var back struct {
					Payload, Source, PayloadType string
					Metadata                     map[string]string
				}
				if err := json.Unmarshal(rec, &back); err != nil {
					t.Fatalf("record is not JSON: %v: %s", err, rec)
				}
				// What comes out is exactly what went in.
				if back.Payload != string(e.Payload) || back.Source != string(e.Source) {
					t.Fatalf("round trip changed the entry: %q/%q became %q/%q", e.Payload, e.Source, back.Payload, back.Source)
				}
				for _, kv := range e.Metadata {
					if back.Metadata[string(kv.Key)] != string(kv.Value) {
						t.Fatalf("round trip changed metadata %q: %q became %q", kv.Key, kv.Value, back.Metadata[string(kv.Key)])
					}
				}
			}
		}
		_ = err
		if err != nil && !json.Valid(err.AppendJSON(nil)) {
			t.Fatalf("error response is not JSON")
		}
	})
}

func TestManyMetadataKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"payload":"x","entryType":1,"source":"s","logLevel":6,"metadata":{`)
	for i := 0; i < 100000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	ok := b.String() + "}}"
	if _, err := decodeOne(t, ok); err != nil {
		t.Fatalf("100,000 distinct keys: %v", err)
	}
	dup := b.String() + `,"k77":"again"}}`
	if _, err := decodeOne(t, dup); err == nil || err.Code != CodeInvalidJSON {
		t.Fatalf("duplicate among many keys: %v", err)
	}
	var d Decoder // a batch: each entry's metadata is its own object
	batch := `{"entries":[` + strings.TrimPrefix(ok, "") + `,` + ok + `]}`
	if _, err := d.Decode([]byte(batch)); err != nil {
		t.Fatalf("two entries with the same many keys: %v", err)
	}
}

func TestTimestampNormalised(t *testing.T) {
	for in, want := range map[string]string{
		"2025-08-31T10:30:00Z":              "2025-08-31T10:30:00Z",
		"2025-08-31T10:30:00.123Z":          "2025-08-31T10:30:00.123Z",
		"2025-08-31T10:30:00.120Z":          "2025-08-31T10:30:00.12Z",
		"2025-08-31T10:30:00.000Z":          "2025-08-31T10:30:00Z",
		"2025-08-31t10:30:00z":              "2025-08-31T10:30:00Z",
		"2025-08-31T10:30:00.123456789123Z": "2025-08-31T10:30:00.123456789Z",
		"2025-08-31T12:30:00+02:00":         "2025-08-31T10:30:00Z",
		"2025-08-31T10:30:00.5-00:00":       "2025-08-31T10:30:00.5Z",
	} {
		m, err := decodeOne(t, `{"payload":"x","entryType":1,"source":"s","logLevel":6,"timestamp":"`+in+`"}`)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var out struct{ Timestamp string }
		json.Unmarshal(AppendRecord(nil, &m.Entries[0], time.Now()), &out)
		if out.Timestamp != want {
			t.Errorf("%s came out as %s, want %s", in, out.Timestamp, want)
		}
	}
}

// parseTime parses a date-time without a cache: the reference the
// minuteCache is held to.
func parseTime(b []byte) (time.Time, bool) {
	m, ok := parseMinute(b)
	if !ok {
		return time.Time{}, false
	}
	return parseSeconds(b, m)
}

// parseTime agrees with time.Parse on every day of four centuries' worth of
// sampled dates, with and without offsets and fractions; so does a
// minuteCache, which sees each minute several times in a row.
func TestParseTimeMatchesTimeParse(t *testing.T) {
	var cache minuteCache
	for year := 0; year <= 9999; year += 7 {
		for month := 1; month <= 12; month++ {
			for _, day := range []int{1, 15, 28, 29, 30, 31} {
				for _, rest := range []string{"T00:00:00Z", "T23:59:59.123456789Z", "T12:30:05.5+02:00", "t01:02:03-11:45", "T10:00:00.000001z"} {
					in := fmt.Sprintf("%04d-%02d-%02d%s", year, month, day, rest)
					want, werr := time.Parse(time.RFC3339Nano, strings.ToUpper(in))
					got, ok := parseTime([]byte(in))
					if ok != (werr == nil) {
						t.Fatalf("%s: parseTime ok=%v, time.Parse error %v", in, ok, werr)
					}
					if ok && !got.Equal(want) {
						t.Fatalf("%s: parseTime gives %s, time.Parse %s", in, got, want)
					}
					for _, sec := range []string{"", ":60", ":0x", "+25:00"} {
						in := in
						if sec != "" {
							in = in[:16] + sec + "Z" // the same minute, bad seconds
						}
						cgot, cok := cache.parse([]byte(in))
						gotNew, okNew := parseTime([]byte(in))
						if cok != okNew || (cok && !cgot.Equal(gotNew)) {
							t.Fatalf("%s: minuteCache gives %s %v, parseTime %s %v", in, cgot, cok, gotNew, okNew)
						}
					}
				}
			}
		}
	}
}

// Keys are recognised from a word or two when written plainly; anything
// else (escapes, longer or shorter names, the end of the line) must still
// be read as the key it is.
func TestKeysReadLikeStrings(t *testing.T) {
	cases := []struct {
		line string
		want string // "" for accepted with payload "p", else the error code
	}{
		{`{"payload":"p","entryType":1,"source":"s","logLevel":7}`, ""},
		{`{"pay\u006coad":"p","entryType":1,"source":"s","logLevel":7}`, ""},
		{`{"payload":"p","entryTyp\u0065":1,"sourc\u0065":"s","logLevel":7}`, ""},
		{`{"payload":"p","pay\u006coad":"q","entryType":1,"source":"s","logLevel":7}`, CodeInvalidJSON},
		{`{"payloadX":"x","payload":"p","entryType":1,"source":"s","logLevel":7}`, ""},
		{`{"sourceX":"x","entryTypeX":1,"logLevelX":1,"timestampX":"t","metadataX":1,"payloadTypeX":1,"payload":"p","entryType":1,"source":"s","logLevel":7}`, ""},
		{`{"payload":"p","entryType":1,"source":"s","logLevel":7,"payloadType":"x y"}`, CodeInvalidEntry},
		{`{"payload":"p","entryType":1,"source":"s","logLevel":7,"payloadTyp":"x y"}`, ""},
		{`{"entryType":1,"source":"s","logLevel":7,"payload":"p"}`, ""},
		{`{"logLevel":7,"source":"s","entryType":1,"payload":"p"}`, ""},
		{`{"entryType":1,"source":"s","logLevel":7,"payload":"p","source":"t"}`, CodeInvalidJSON},
		{`{"entryType":1,"source":"s","payload":"p","logLevel":7,"metadata":{}}`, ""},
		{`{"entryType":1,"source":"s","payload":"p","logLevel":7,"payload":"p"}`, CodeInvalidJSON},
	}
	var d Decoder
	for _, c := range cases {
		m, err := d.Decode([]byte(c.line))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.line, err)
		case c.want == "" && string(m.Entries[0].Payload) != "p":
			t.Errorf("%s: payload %q", c.line, m.Entries[0].Payload)
		case c.want != "" && (err == nil || err.Code != c.want):
			t.Errorf("%s: got %v, want %s", c.line, err, c.want)
		}
	}
}

// Ids stay unique when several goroutines, each with its own Stamp, make
// them side by side, and when AppendID and AppendRecord make them too; each
// is a version 7, variant 10 UUID.
func TestIDsUniqueAcrossStamps(t *testing.T) {
	const per = 3000
	now := time.Now()
	results := make([][]string, 4)
	var wg sync.WaitGroup
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := NewStamp(now)
			e := Entry{Payload: []byte("p"), Source: []byte("s"), EntryType: 1, LogLevel: 1}
			for i := range per {
				var id []byte
				switch {
				case g == 3 && i%2 == 0:
					id = AppendID(nil, now)
				case g == 3:
					rec := AppendRecord(nil, &e, now)
					id = rec[len(`{"id":"`) : len(`{"id":"`)+36]
				default:
					rec := AppendRecordStamp(nil, &e, s)
					id = rec[len(`{"id":"`) : len(`{"id":"`)+36]
				}
				results[g] = append(results[g], string(id))
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range results {
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %s made twice", id)
			}
			seen[id] = true
			if len(id) != 36 || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
				t.Fatalf("%s is not a UUID version 7, variant 10", id)
			}
		}
	}
}

// Ids are formatted like the plain way of writing a UUID's 16 bytes in hex.
func TestIDText(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20000 {
		now := time.UnixMilli(rng.Int64N(1 << 47))
		seq := rng.Uint64()
		if i < 4 {
			seq = []uint64{0, ^uint64(0), 1 << 62, 0x0123456789abcdef}[i]
		}
		var u [16]byte
		binary.BigEndian.PutUint64(u[0:], uint64(now.UnixMilli())<<16|0x7000|uint64(idRandA))
		binary.BigEndian.PutUint64(u[8:], seq)
		u[8] = 0x80 | u[8]&0x3f
		h := hex.EncodeToString(u[:])
		want := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		if got := string(appendID(nil, now, seq)); got != want {
			t.Fatalf("appendID(%v, %#x) = %s, want %s", now, seq, got, want)
		}
		s := NewStamp(now)
		s.seqNext, s.seqEnd = seq, seq+1
		e := Entry{Payload: []byte("p"), Source: []byte("s"), EntryType: 1, LogLevel: 1}
		if got := string(AppendRecordStamp(nil, &e, s)[len(`{"id":"`):][:36]); got != want {
			t.Fatalf("the id of a record made at %v, %#x = %s, want %s", now, seq, got, want)
		}
	}
}

// FuzzFastPathAgrees holds the fast path to the full scanner: whatever a
// line is, decoding it with and without the fast path gives the same
// message and the same error, with AVX2 and without.
func FuzzFastPathAgrees(f *testing.F) {
	f.Add(benchLine)
	f.Add(escapedLine)
	f.Add([]byte(`{"version":"1.0","entries":[` + string(benchLine) + `,` + string(benchLine) + `]}`))
	f.Add([]byte(`{"payload":"ü","entryType":5,"source":"s","logLevel":8,"timestamp":"2025-08-31T12:30:00+02:00","metadata":{}}`))
	f.Add([]byte(`{"payload":"x","entryType":1,"source":"s","logLevel":6,"metadata":{"a":"b","a":"c"}}`))
	f.Add([]byte(`{"payload":"x","entryType":1,"source":"s","logLevel":6,"payload":"y"}`))
	f.Add([]byte(`{"payload":"x","entryType":10,"source":"s","logLevel":6} `))
	f.Add([]byte(`{"payload":"x","entryType":1,"source":"s","logLevel":6}x`))
	f.Add([]byte(`{"version":"1.0","entries":[{"payload":"x","entryType":1,"source":"s","logLevel":6,"action":"ping"},3,{"payload":"","entryType":1,"source":"s","logLevel":6}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast, slow Decoder
		slow.noFast = true
		fm, fe := fast.Decode(line)
		sm, se := slow.Decode(line)
		for _, m := range []*Message{fm, sm} {
			if m != nil && len(m.Entries) == 0 {
				m.Entries = nil // an empty slice is no different from none
			}
		}
		if !reflect.DeepEqual(fm, sm) {
			t.Fatalf("%q: fast path read %+v, the full scanner %+v", line, fm, sm)
		}
		if !reflect.DeepEqual(fe, se) {
			t.Fatalf("%q: fast path error %+v, the full scanner's %+v", line, fe, se)
		}
		// The same on a CPU without AVX2.
		var portable Decoder
		withoutAVX2(func() {
			pm, pe := portable.Decode(line)
			if pm != nil && len(pm.Entries) == 0 {
				pm.Entries = nil
			}
			if !reflect.DeepEqual(pm, sm) || !reflect.DeepEqual(pe, se) {
				t.Fatalf("%q: without AVX2 the fast path read %+v (error %+v), the full scanner %+v (error %+v)", line, pm, pe, sm, se)
			}
		})
	})
}

// The fast path must actually be taken for the usual entry, or the
// agreement above proves nothing about it.
func TestFastPathTakesTheUsualEntry(t *testing.T) {
	var d Decoder
	for _, line := range []string{
		string(benchLine),
		`{"payload":"grüße","entryType":1,"source":"s","logLevel":6,"metadata":{"ключ":"значение"}}`,
		`{"payload":"a\nb \"c\" \u00fc","entryType":1,"source":"s\t","logLevel":6,"metadata":{"k\"":"v\\"}}`,
		`{"payload":"p","entryType":1,"source":"s","logLevel":6,"metadata":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1","j":"1","k":"1","l":"1","m":"1","n":"1","o":"1","p":"1"}}`,
	} {
		if end := d.fastEntry([]byte(line), 0); end != len(line) {
			t.Errorf("fast path returned %d for %s, want %d", end, line, len(line))
		}
	}
	for _, line := range []string{
		`{"payload":"a\u0000\ud800","entryType":1,"source":"s","logLevel":6}`,
		`{"payload":"x", "entryType":1,"source":"s","logLevel":6}`,
		`{"payload":"x","entryType":1,"source":"s","logLevel":6,"extra":1}`,
		`{"payload":"x","entryType":1,"source":"s"}`,
		`{"payload":"p","entryType":1,"source":"s","logLevel":6,"metadata":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1","j":"1","k":"1","l":"1","m":"1","n":"1","o":"1","p":"1","q":"1"}}`,
	} {
		if end := d.fastEntry([]byte(line), 0); end != -1 {
			t.Errorf("fast path took %s (returned %d)", line, end)
		}
	}
	if len(d.entries) != 4 || len(d.kvs) != 20 {
		t.Errorf("after the refused lines: %d entries, %d metadata pairs kept; want 4 and 20", len(d.entries), len(d.kvs))
	}
}

// A timestamp whose first bytes are NULs (written as escapes) must not
// match the empty minute cache.
func TestTimestampOfNULs(t *testing.T) {
	var d Decoder
	nul16 := strings.Repeat(`\u0000`, 16)
	_, err := d.Decode([]byte(`{"payload":"p","entryType":1,"source":"s","logLevel":7,"timestamp":"` + nul16 + `:00Z"}`))
	if err == nil || err.Code != CodeInvalidEntry {
		t.Fatalf("a timestamp of NULs: %v, want invalid_entry", err)
	}
}
