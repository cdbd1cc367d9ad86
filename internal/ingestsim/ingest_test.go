package ingestsim

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/logtest"
)

// TestIngestRequestRejections covers what refuses a request as a whole.
func TestIngestRequestRejections(t *testing.T) {
	s, base, key, id := newSession(t, Options{Limits: Limits{MaxBatchSize: 2, MaxPayloadSize: 400, MaxRequestSize: 2000}})
	good := sealed(t, key, id, 1, 1, logPayload)
	big := sealed(t, key, id, 1, 2, `{"v":"2.0","type":"log","source":"api","message":"`+strings.Repeat("x", 400)+`"}`)
	otherKey := "us-lf_anotherkey0123"
	otherID := handshake(t, base, otherKey, key)

	type tc struct {
		name        string
		contentType string
		apiKey      string
		body        []byte
		chunked     bool
		status      int
		code        string
	}
	cases := []tc{
		{"json content type", "application/json", testKey, multipartBody(good), false, 400, "invalid_content_type"},
		{"no boundary", "multipart/mixed", testKey, multipartBody(good), false, 400, "invalid_content_type"},
		{"form-data", "multipart/form-data; boundary=" + boundary, testKey, multipartBody(good), false, 400, "invalid_content_type"},
		{"no parts", "", testKey, []byte("--" + boundary + "--\r\n"), false, 400, "empty_batch"},
		{"empty body", "", testKey, nil, false, 400, "invalid_multipart"},
		{"truncated multipart", "", testKey, multipartBody(good)[:120], false, 400, "invalid_multipart"},
		{"no api key", "", "", multipartBody(good), false, 401, "missing_api_key"},
		{"read-side token", "", "eu-lf_usr_0123456789", multipartBody(good), false, 401, "invalid_api_key"},
		{"unknown key id", "", testKey, multipartBody(good.with("X-LF-Key-ID", "7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c")), false, 401, "invalid_key_id"},
		{"another key's session", "", testKey, multipartBody(good.with("X-LF-Key-ID", otherID)), false, 401, "invalid_key_id"},
		{"one unknown key id among good parts", "", testKey, multipartBody(good, good.with("X-LF-Key-ID", "7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c")), false, 401, "invalid_key_id"},
		{"too many parts", "", testKey, multipartBody(good, good, good), false, 413, "too_many_entries"},
		{"part too large", "", testKey, multipartBody(big), false, 413, "entry_too_large"},
		{"request too large", "", testKey, append(multipartBody(good), make([]byte, 2000)...), false, 413, "request_too_large"},
		{"request too large, chunked", "", testKey, multipartBody(good, good.with("X-Padding", strings.Repeat("p", 3000))), true, 413, "request_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.Stats().Accepted
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/ingest", body)
			ct := c.contentType
			if ct == "" {
				ct = "multipart/mixed; boundary=" + boundary
			}
			req.Header.Set("Content-Type", ct)
			if c.apiKey != "" {
				req.Header.Set("Authorization", "Bearer "+c.apiKey)
			}
			a := do(t, req)
			if a.status != c.status || a.errCode() != c.code {
				t.Errorf("= %d %s; want %d %s", a.status, a.raw, c.status, c.code)
			}
			if s.Stats().Accepted != before {
				t.Error("a refused request accepted entries")
			}
		})
	}
}

// TestIngestPartRejections covers what fails one part: alone in its request
// it is a 400 listing the failure; beside a good part, a 200 with
// data.failures naming its index.
func TestIngestPartRejections(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	good := sealed(t, key, id, 1, 1, logPayload)
	seal := func(et, pt int, payload string) tpart { return sealed(t, key, id, et, pt, payload) }
	tampered := good
	tampered.body = bytes.Clone(good.body)
	tampered.body[3] ^= 1
	log := func(extra string) string {
		return `{"v":"2.0","type":"log","source":"api","message":"m"` + extra + `}`
	}
	attrs := func(n, keyLen, valLen int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,"%s%03d":"%s"`, strings.Repeat("k", keyLen-3), i, strings.Repeat("v", valLen))
		}
		return `,"attributes":{` + b.String()[1:] + `}`
	}
	cases := []struct {
		name string
		part tpart
		want string // in the failure's error
	}{
		{"no content type", good.with("Content-Type", ""), "Content-Type"},
		{"text content type", good.with("Content-Type", "text/plain"), "Content-Type"},
		{"entry type 0", good.with("X-LF-Entry-Type", "0"), "X-LF-Entry-Type"},
		{"entry type 8", good.with("X-LF-Entry-Type", "8"), "X-LF-Entry-Type"},
		{"entry type missing", good.with("X-LF-Entry-Type", ""), "X-LF-Entry-Type"},
		{"payload type 0", good.with("X-LF-Payload-Type", "0"), "X-LF-Payload-Type"},
		{"payload type missing", good.with("X-LF-Payload-Type", ""), "X-LF-Payload-Type"},
		{"gzip only for a log", good.with("X-LF-Payload-Type", "3"), "must be encrypted"},
		{"key id missing", good.with("X-LF-Key-ID", ""), "X-LF-Key-ID"},
		{"key id not a UUID", good.with("X-LF-Key-ID", "key-1"), "X-LF-Key-ID"},
		{"nonce missing", good.with("X-LF-Nonce", ""), "X-LF-Nonce"},
		{"nonce of 11 bytes", good.with("X-LF-Nonce", base64.StdEncoding.EncodeToString(make([]byte, 11))), "X-LF-Nonce"},
		{"nonce of 16 bytes", good.with("X-LF-Nonce", base64.StdEncoding.EncodeToString(make([]byte, 16))), "X-LF-Nonce"},
		{"nonce url-safe base64", good.with("X-LF-Nonce", "____________________"), "X-LF-Nonce"},
		{"timestamp missing", good.with("X-LF-Timestamp", ""), "X-LF-Timestamp"},
		{"timestamp not RFC 3339", good.with("X-LF-Timestamp", "15/03/2026 14:30"), "X-LF-Timestamp"},
		{"timestamp not UTC", good.with("X-LF-Timestamp", "2026-03-15T14:30:45+01:00"), "not UTC"},
		{"other nonce", good.with("X-LF-Nonce", base64.StdEncoding.EncodeToString(make([]byte, 12))), "decryption failed"},
		{"tampered ciphertext", tampered, "decryption failed"},
		{"labelled gzip but not", seal(1, 1, logPayload).with("X-LF-Payload-Type", "1"), ""}, // control: valid
		{"labelled 1, neither gzip nor a payload", func() tpart { p := seal(1, 2, "hello"); return p.with("X-LF-Payload-Type", "1") }(), "not gzip, nor a valid plain payload"},
		{"gzip labelled 2", func() tpart { p := seal(1, 1, logPayload); return p.with("X-LF-Payload-Type", "2") }(), "not a JSON object"},
		{"not JSON", seal(1, 1, "hello"), "not a JSON object"},
		{"JSON array", seal(1, 1, "[1]"), "not a JSON object"},
		{"two objects", seal(1, 1, log("")+"{}"), "after its JSON object"},
		{"v 1.0", seal(1, 1, `{"v":"1.0","type":"log","source":"a","message":"m"}`), "v is 1.0"},
		{"type differs from header", seal(2, 1, log("")), "does not match X-LF-Entry-Type 2"},
		{"source missing", seal(1, 1, `{"v":"2.0","type":"log","message":"m"}`), "source"},
		{"source too long", seal(1, 1, `{"v":"2.0","type":"log","source":"`+strings.Repeat("s", 257)+`","message":"m"}`), "source"},
		{"level 9", seal(1, 1, log(`,"level":9`)), "level"},
		{"level 6.5", seal(1, 1, log(`,"level":6.5`)), "level"},
		{"level string", seal(1, 1, log(`,"level":"6"`)), "level"},
		{"ts not RFC 3339", seal(1, 1, log(`,"ts":"yesterday"`)), "ts"},
		{"51 attributes", seal(1, 1, log(attrs(51, 8, 1))), "at most 50"},
		{"attribute key of 65", seal(1, 1, log(attrs(1, 65, 1))), "1 to 64"},
		{"attribute value of 257", seal(1, 1, log(attrs(1, 8, 257))), "longer than 256"},
		{"attribute not a string", seal(1, 1, log(`,"attributes":{"a":1}`)), "not a string"},
		{"meta not an object", seal(1, 1, log(`,"meta":"x"`)), "meta"},
		{"log without message", seal(1, 1, `{"v":"2.0","type":"log","source":"a"}`), "needs message"},
		{"metric value string", seal(2, 1, `{"v":"2.0","type":"metric","source":"a","name":"n","value":"1"}`), "value"},
		{"metric kind", seal(2, 1, `{"v":"2.0","type":"metric","source":"a","name":"n","kind":"sum"}`), "kind"},
		{"trace id short", seal(3, 1, `{"v":"2.0","type":"trace","source":"a","name":"n","trace_id":"abc"}`), "trace_id"},
		{"span id not hex", seal(3, 1, `{"v":"2.0","type":"trace","source":"a","name":"n","span_id":"zzzzzzzzzzzzzzzz"}`), "span_id"},
		{"trace without name", seal(3, 1, `{"v":"2.0","type":"trace","source":"a"}`), "needs name or operation"},
		{"event without event", seal(4, 1, `{"v":"2.0","type":"event","source":"a"}`), "needs event"},
		{"audit action number", seal(5, 1, `{"v":"2.0","type":"audit","source":"a","action":1}`), "action"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.Stats().Accepted
			alone := ingest(t, base, testKey, multipartBody(c.part))
			if c.want == "" {
				if alone.status != http.StatusAccepted {
					t.Fatalf("control part refused: %s", alone.raw)
				}
				return
			}
			if alone.status != 400 || alone.errCode() != "invalid_entries" {
				t.Fatalf("alone = %d %s; want 400 invalid_entries", alone.status, alone.raw)
			}
			if _, ok, failed, idx := batchData(t, alone); ok != 0 || failed != 1 || len(idx) != 1 || idx[0] != 0 {
				t.Errorf("alone: data = %s", alone.raw)
			}
			if !strings.Contains(alone.raw, c.want) {
				t.Errorf("alone: %s; want the failure to mention %q", alone.raw, c.want)
			}
			mixed := ingest(t, base, testKey, multipartBody(good, c.part, good))
			total, ok, failed, idx := batchData(t, mixed)
			if mixed.status != http.StatusOK || total != 3 || ok != 2 || failed != 1 || len(idx) != 1 || idx[0] != 1 {
				t.Errorf("mixed = %d %s; want 200 with part 1 failed", mixed.status, mixed.raw)
			}
			if got := s.Stats().Accepted - before; got != 2 {
				t.Errorf("accepted %d entries; want the 2 good ones", got)
			}
		})
	}
}

// TestIngestPayloadTypes checks the labels other than 1.
func TestIngestPayloadTypes(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	telemetry := `{"v":"2.0","type":"telemetry","source":"dev","device_id":"d1","readings":[{"name":"t","value":21.5}]}`
	gzOnly := tpart{headers: []header{
		{"Content-Type", "application/octet-stream"},
		{"X-LF-Entry-Type", "7"},
		{"X-LF-Payload-Type", "3"},
		{"X-LF-Timestamp", "2026-03-15T14:30:45.123456789Z"},
	}, body: gz(t, telemetry)}
	a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 2, logPayload), gzOnly))
	if a.status != http.StatusAccepted {
		t.Fatalf("= %d %s", a.status, a.raw)
	}
	acc := s.Accepted()
	if len(acc) != 2 || string(acc[0].Payload) != logPayload || acc[0].PayloadType != 2 || string(acc[1].Payload) != telemetry || acc[1].KeyID != "" {
		t.Errorf("accepted = %+v", acc)
	}
}

// The official v3 Go SDK labels every part gzip (payload type 1, or 3 for
// type 7) also with compression off. The simulator accepts such parts as the
// plain JSON they hold, as the real service (which never decrypts) would,
// and reports them in its stats, its records and a rate-limited log line.
func TestIngestAcceptsMislabelledGzip(t *testing.T) {
	logs, log := logtest.New()
	s, base, key, id := newSession(t, Options{Logger: log})
	telemetry := `{"v":"2.0","type":"telemetry","source":"dev","device_id":"d1","readings":[{"name":"t","value":21.5}]}`
	plainType3 := tpart{headers: []header{
		{"Content-Type", "application/octet-stream"},
		{"X-LF-Entry-Type", "7"},
		{"X-LF-Payload-Type", "3"},
		{"X-LF-Timestamp", "2026-03-15T14:30:45.123456789Z"},
	}, body: []byte(telemetry)}
	mislabelled := func() tpart { p := sealed(t, key, id, 1, 2, logPayload); return p.with("X-LF-Payload-Type", "1") }
	a := ingest(t, base, testKey, multipartBody(mislabelled(), sealed(t, key, id, 1, 1, logPayload), plainType3))
	if a.status != http.StatusAccepted {
		t.Fatalf("= %d %s; want 202 for the v3 Go SDK's uncompressed parts", a.status, a.raw)
	}
	acc := s.Accepted()
	if len(acc) != 3 || string(acc[0].Payload) != logPayload || !acc[0].Mislabelled || acc[0].PayloadType != 1 ||
		acc[1].Mislabelled || string(acc[2].Payload) != telemetry || !acc[2].Mislabelled {
		t.Errorf("accepted = %+v", acc)
	}
	if st := s.Stats(); st.Mislabelled != 2 || st.Accepted != 3 {
		t.Errorf("stats: %d mislabelled of %d accepted; want 2 of 3", st.Mislabelled, st.Accepted)
	}
	// A second request within the interval is counted, not logged again.
	if a := ingest(t, base, testKey, multipartBody(mislabelled())); a.status != http.StatusAccepted {
		t.Fatalf("= %d %s", a.status, a.raw)
	}
	if n := strings.Count(logs.String(), "were not compressed"); n != 1 || !strings.Contains(logs.String(), "entries=2") {
		t.Errorf("want one warning naming 2 entries:\n%s", logs.String())
	}
	if st := s.Stats(); st.Mislabelled != 3 {
		t.Errorf("stats: %d mislabelled; want 3", st.Mislabelled)
	}
}

// TestIngestCompactsPayload checks that a pretty-printed payload still
// makes one NDJSON line.
func TestIngestCompactsPayload(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	pretty := "{\n  \"v\": \"2.0\",\n  \"type\": \"log\",\n  \"source\": \"a\",\n  \"message\": \"two\\nlines\"\n}\n"
	if a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, pretty))); a.status != 202 {
		t.Fatalf("= %d %s", a.status, a.raw)
	}
	if got := string(s.Accepted()[0].Payload); got != `{"v":"2.0","type":"log","source":"a","message":"two\nlines"}` {
		t.Errorf("payload = %s", got)
	}
}

// TestRetain checks that only the newest records are kept in memory.
func TestRetain(t *testing.T) {
	s, base, key, id := newSession(t, Options{Retain: 2})
	for i := range 3 {
		p := fmt.Sprintf(`{"v":"2.0","type":"log","source":"a","message":"%d"}`, i)
		ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, p)))
	}
	acc := s.Accepted()
	if len(acc) != 2 || !strings.Contains(string(acc[0].Payload), `"1"`) || s.Stats().Accepted != 3 {
		t.Errorf("retained %d records, first %s", len(acc), acc[0].Payload)
	}
}

// FuzzIngest feeds arbitrary bodies to /v1/ingest: the simulator must answer
// every one with a documented client error or success, never a 5xx or a panic.
func FuzzIngest(f *testing.F) {
	v := loadVectors(f)
	s, err := New(Options{KeyFile: keyPEMPath, Limits: Limits{RequestsPerMinute: -1}})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	req := httptest.NewRequest(http.MethodPost, "/v1/handshake/complete",
		strings.NewReader(`{"api_key":"`+testKey+`","encrypted_secret":"`+v.WrappedKey+`"}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	keyID := strings.Split(rec.Body.String(), `"`)[3]
	ct, _ := base64.StdEncoding.DecodeString(v.Entries[0].Ciphertext)
	good := tpart{headers: []header{
		{"Content-Type", "application/octet-stream"}, {"X-LF-Entry-Type", "1"}, {"X-LF-Payload-Type", "1"},
		{"X-LF-Key-ID", keyID}, {"X-LF-Nonce", v.Entries[0].Nonce}, {"X-LF-Timestamp", "2026-03-15T14:30:45Z"},
	}, body: ct}
	f.Add(multipartBody(good))
	f.Add(multipartBody(good, good.with("X-LF-Entry-Type", "9")))
	f.Add([]byte("--" + boundary + "\r\n\r\n\r\n--" + boundary + "--"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 202, 400, 401, 413:
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzValidatePayload checks that no payload makes the validator panic.
func FuzzValidatePayload(f *testing.F) {
	f.Add(1, []byte(logPayload))
	f.Add(3, []byte(`{"v":"2.0","type":"trace","source":"a","name":"n","trace_id":"0123456789abcdef0123456789abcdef"}`))
	f.Add(2, []byte(`{"v":"2.0","type":"metric","source":"a","name":"n","value":1e400}`))
	f.Fuzz(func(t *testing.T, entryType int, payload []byte) {
		validatePayload(entryType, payload)
	})
}
