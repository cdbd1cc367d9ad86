package ingestsim

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func TestDiscoveryPointsAtItself(t *testing.T) {
	_, ts := newSim(t, Options{Region: "ca"})
	a := get(t, ts.URL+"/")
	if a.status != http.StatusOK {
		t.Fatalf("GET /: %d %s", a.status, a.raw)
	}
	ep, _ := a.body["endpoints"].(map[string]any)
	if ep["ingestor_url"] != ts.URL || a.body["region"] != "ca" || a.body["version"] != "1.1" {
		t.Errorf("discovery = %s; want ingestor_url %s, region ca, version 1.1", a.raw, ts.URL)
	}
	if _, err := time.Parse(time.RFC3339, a.body["updated_at"].(string)); err != nil {
		t.Errorf("updated_at: %v", err)
	}
}

func TestHealthVersionInfo(t *testing.T) {
	_, ts := newSim(t, Options{Faults: Faults{StatusRates: map[int]float64{503: 1}}})
	h := get(t, ts.URL+"/health")
	if h.status != http.StatusOK || h.raw != "OK" || !strings.HasPrefix(h.header.Get("Content-Type"), "text/plain") {
		t.Errorf("/health = %d %q %q; want 200 text/plain OK (faults touch only /v1/)", h.status, h.header.Get("Content-Type"), h.raw)
	}
	for _, path := range []string{"/version", "/info"} {
		a := get(t, ts.URL+path)
		if a.status != http.StatusOK || a.body["api_version"] != "v1" || a.body["service"] != "logflux-ingestor" {
			t.Errorf("%s = %d %s", path, a.status, a.raw)
		}
		if v, _ := a.body["supported_versions"].([]any); len(v) != 1 || v[0] != "v1" {
			t.Errorf("%s supported_versions = %v", path, a.body["supported_versions"])
		}
		if v, ok := a.body["deprecated_versions"].([]any); !ok || len(v) != 0 {
			t.Errorf("%s deprecated_versions = %v; want []", path, a.body["deprecated_versions"])
		}
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	_, ts := newSim(t, Options{})
	if a := get(t, ts.URL+"/v1/batch"); a.status != http.StatusNotFound || a.errCode() != "not_found" {
		t.Errorf("GET /v1/batch = %d %s; want 404 not_found", a.status, a.raw)
	}
	if a := get(t, ts.URL+"/v1/ingest"); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/ingest = %d %s; want 405 with Allow: POST", a.status, a.raw)
	}
	if a := postJSON(t, ts.URL+"/health", "", nil); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /health = %d; want 405", a.status)
	}
}

// TestFixedVectors drives the whole path with vectors made outside Go: the
// session key wrapped by OpenSSL, the entries sealed by Python.
func TestFixedVectors(t *testing.T) {
	v := loadVectors(t)
	out := filepath.Join(t.TempDir(), "accepted.ndjson")
	s, ts := newSim(t, Options{Out: out})

	init := postJSON(t, ts.URL+"/v1/handshake/init", testKey, map[string]string{"api_key": testKey})
	if init.status != http.StatusOK || init.body["supports_multipart"] != true {
		t.Fatalf("init = %d %s", init.status, init.raw)
	}
	want, _ := os.ReadFile("testdata/rsa2048.pem")
	blk, _ := pem.Decode(want)
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.(*rsa.PrivateKey).PublicKey)
	if got := init.body["public_key"]; got != string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) {
		t.Errorf("public_key is not the key file's public half: %v", got)
	}
	lim, _ := init.body["limits"].(map[string]any)
	if lim["max_batch_size"] != 1000.0 || lim["max_payload_size"] != float64(1<<20) || lim["max_request_size"] != float64(10<<20) {
		t.Errorf("limits = %v; want the published defaults", lim)
	}

	done := postJSON(t, ts.URL+"/v1/handshake/complete", testKey, map[string]string{"api_key": testKey, "encrypted_secret": v.WrappedKey})
	keyID, _ := done.body["key_id"].(string)
	if done.status != http.StatusOK || !isUUID(keyID) {
		t.Fatalf("complete = %d %s", done.status, done.raw)
	}

	var parts []tpart
	for _, e := range v.Entries {
		ct, _ := base64.StdEncoding.DecodeString(e.Ciphertext)
		parts = append(parts, tpart{headers: []header{
			{"Content-Type", "application/octet-stream"},
			{"X-LF-Entry-Type", itoa(e.EntryType)},
			{"X-LF-Payload-Type", "1"},
			{"X-LF-Key-ID", keyID},
			{"X-LF-Nonce", e.Nonce},
			{"X-LF-Timestamp", "2026-03-15T14:30:45.123Z"},
		}, body: ct})
	}
	a := ingest(t, ts.URL, testKey, multipartBody(parts...))
	if a.status != http.StatusAccepted || a.body["status"] != "success" {
		t.Fatalf("ingest = %d %s", a.status, a.raw)
	}
	if total, ok, failed, _ := batchData(t, a); total != 2 || ok != 2 || failed != 0 {
		t.Errorf("data = %d/%d/%d; want 2 total, 2 succeeded", total, ok, failed)
	}
	got := s.Accepted()
	if len(got) != len(v.Entries) {
		t.Fatalf("accepted %d records; want %d", len(got), len(v.Entries))
	}
	var lines []string
	for i, e := range v.Entries {
		if string(got[i].Payload) != e.Payload || got[i].EntryType != e.EntryType || got[i].KeyID != keyID || got[i].Nonce != e.Nonce || got[i].Index != i {
			t.Errorf("record %d = %+v; want payload %s", i, got[i], e.Payload)
		}
		lines = append(lines, e.Payload+"\n")
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != strings.Join(lines, "") {
		t.Errorf("out file =\n%s\nwant\n%s", file, strings.Join(lines, ""))
	}
	st := s.Stats()
	if st.Accepted != 2 || st.Sessions != 1 || st.Ingest(http.StatusAccepted) != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestHandshakeShapes(t *testing.T) {
	v := loadVectors(t)
	_, ts := newSim(t, Options{WrapResponses: true, LegacyKeyUUID: true})
	init := postJSON(t, ts.URL+"/v1/handshake/init", testKey, map[string]string{"api_key": testKey})
	d, _ := init.body["data"].(map[string]any)
	if init.body["status"] != "success" || d == nil || d["public_key"] == nil || d["limits"] == nil || init.body["public_key"] != nil {
		t.Errorf("wrapped init = %s", init.raw)
	}
	done := postJSON(t, ts.URL+"/v1/handshake/complete", testKey, map[string]string{"api_key": testKey, "encrypted_secret": v.WrappedKey})
	d, _ = done.body["data"].(map[string]any)
	if id, _ := d["key_uuid"].(string); !isUUID(id) || d["key_id"] != nil {
		t.Errorf("legacy complete = %s; want data.key_uuid only", done.raw)
	}
}

func TestHandshakeRejections(t *testing.T) {
	v := loadVectors(t)
	wrap := func(secret []byte) string {
		blk, _ := pem.Decode([]byte(mustRead(t, keyPEMPath)))
		k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
		w, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.(*rsa.PrivateKey).PublicKey, secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(w)
	}
	other := "us-lf_zyxwvutsrqponmlk"
	cases := []struct {
		name   string
		opts   Options
		path   string
		header string // Authorization
		body   any
		status int
		code   string
	}{
		{"no authorization", Options{}, "init", "", map[string]string{"api_key": testKey}, 401, "missing_api_key"},
		{"basic scheme", Options{}, "init", "Basic " + testKey, map[string]string{"api_key": testKey}, 401, "invalid_authorization"},
		{"read-side token", Options{}, "init", "Bearer eu-lf_usr_abcdef0123456789", map[string]string{"api_key": "eu-lf_usr_abcdef0123456789"}, 401, "invalid_api_key"},
		{"legacy read-side token", Options{}, "init", "Bearer lf_usr_abcdef0123456789", map[string]string{"api_key": "lf_usr_abcdef0123456789"}, 401, "invalid_api_key"},
		{"unknown region", Options{}, "init", "Bearer xx-lf_abcdef", map[string]string{"api_key": "xx-lf_abcdef"}, 401, "invalid_api_key"},
		{"legacy key refused", Options{RejectLegacyKeys: true}, "init", "Bearer lf_abcdef0123", map[string]string{"api_key": "lf_abcdef0123"}, 401, "invalid_api_key"},
		{"strict region", Options{StrictRegion: true}, "init", "Bearer " + other, map[string]string{"api_key": other}, 401, "invalid_api_key"},
		{"not in allow list", Options{APIKeys: []string{testKey}}, "init", "Bearer " + other, map[string]string{"api_key": other}, 401, "invalid_api_key"},
		{"body key differs", Options{}, "init", "Bearer " + testKey, map[string]string{"api_key": other}, 401, "invalid_api_key"},
		{"body key missing", Options{}, "init", "Bearer " + testKey, map[string]string{}, 400, "missing_field"},
		{"body not an object", Options{}, "init", "Bearer " + testKey, []int{1}, 400, "invalid_json"},
		{"secret missing", Options{}, "complete", "Bearer " + testKey, map[string]string{"api_key": testKey}, 400, "missing_field"},
		{"secret not base64", Options{}, "complete", "Bearer " + testKey, map[string]string{"api_key": testKey, "encrypted_secret": "%%%"}, 400, "invalid_encrypted_secret"},
		{"secret wrapped with MGF1-SHA-1", Options{}, "complete", "Bearer " + testKey, map[string]string{"api_key": testKey, "encrypted_secret": v.WrappedKeySHA1}, 400, "invalid_encrypted_secret"},
		{"secret of 16 bytes", Options{}, "complete", "Bearer " + testKey, map[string]string{"api_key": testKey, "encrypted_secret": wrap(make([]byte, 16))}, 400, "invalid_encrypted_secret"},
		{"secret garbage", Options{}, "complete", "Bearer " + testKey, map[string]string{"api_key": testKey, "encrypted_secret": base64.StdEncoding.EncodeToString(make([]byte, 256))}, 400, "invalid_encrypted_secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := newSim(t, c.opts)
			b, _ := json.Marshal(c.body)
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/handshake/"+c.path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			a := do(t, req)
			if a.status != c.status || a.errCode() != c.code {
				t.Errorf("= %d %s; want %d %s", a.status, a.raw, c.status, c.code)
			}
			if s.Stats().Sessions != 0 {
				t.Error("a refused handshake made a session")
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAcceptMGF1SHA1(t *testing.T) {
	v := loadVectors(t)
	_, ts := newSim(t, Options{AcceptMGF1SHA1: true})
	for _, w := range []string{v.WrappedKey, v.WrappedKeySHA1} {
		a := postJSON(t, ts.URL+"/v1/handshake/complete", testKey, map[string]string{"api_key": testKey, "encrypted_secret": w})
		if a.status != http.StatusOK {
			t.Errorf("complete = %d %s; want 200 with either MGF1 hash", a.status, a.raw)
		}
	}
}

func TestParseAPIKey(t *testing.T) {
	good := map[string]string{
		"eu-lf_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6": "eu",
		"us-lf_x":                                "us",
		"ca-lf_x":                                "ca",
		"au-lf_x":                                "au",
		"ap-lf_A_b-9":                            "ap",
		"lf_legacy0123":                          "",
	}
	for k, region := range good {
		if r, err := parseAPIKey(k); err != nil || r != region {
			t.Errorf("parseAPIKey(%q) = %q, %v; want %q", k, r, err, region)
		}
	}
	for _, k := range []string{"", "lf_", "eu-lf_", "eu_lf_abc", "EU-lf_abc", "de-lf_abc", "eu-abc", "abc", "eu-lf_usr_abc", "lf_usr_abc", "eu-lf_a b", "eu-lf_" + strings.Repeat("a", 257)} {
		if _, err := parseAPIKey(k); err == nil {
			t.Errorf("parseAPIKey(%q) accepted a malformed key", k)
		}
	}
	if _, err := parseAPIKey("eu-lf_usr_abc"); !errors.Is(err, errReadToken) {
		t.Errorf("read token error = %v; want errReadToken", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not.pem")
	os.WriteFile(notKey, []byte("hello"), 0o600)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, opts := range map[string]Options{
		"missing key file": {KeyFile: filepath.Join(dir, "nope.pem")},
		"not a PEM key":    {KeyFile: notKey},
		"1024-bit key":     {PrivateKey: small},
		"bad allow list":   {KeyFile: keyPEMPath, APIKeys: []string{"lf_usr_x"}},
		"bad out path":     {KeyFile: keyPEMPath, Out: filepath.Join(dir, "no", "such", "dir")},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestGeneratedKey(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(s.PublicKeyPEM()))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if n := pub.(*rsa.PublicKey).N.BitLen(); n != 2048 {
		t.Errorf("generated key has %d bits; want 2048", n)
	}
}

func TestStartServeShutdown(t *testing.T) {
	s, err := New(Options{KeyFile: keyPEMPath, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}

	s, _ = New(Options{KeyFile: keyPEMPath, Listen: "127.0.0.1:0"})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a := get(t, s.URL()+"/health"); a.raw != "OK" {
		t.Errorf("/health over Start = %q", a.raw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	if a := get(t, "http://"+ln.Addr().String()+"/health"); a.raw != "OK" {
		t.Errorf("/health over Serve = %q", a.raw)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown = %v; want nil", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	if _, err := http.Get(s.URL() + "/health"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

// newSession sets up a simulator and a handshaken session on it.
func newSession(t *testing.T, opts Options) (*Server, string, []byte, string) {
	t.Helper()
	s, ts := newSim(t, opts)
	key := loadVectors(t).aesKey(t)
	return s, ts.URL, key, handshake(t, ts.URL, testKey, key)
}

func TestFaultStatusRates(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	s.SetFaults(Faults{StatusRates: map[int]float64{503: 1}})
	a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload)))
	if a.status != 503 || a.errCode() != "service_unavailable" {
		t.Errorf("ingest = %d %s; want 503", a.status, a.raw)
	}
	if a := postJSON(t, base+"/v1/handshake/init", testKey, map[string]string{"api_key": testKey}); a.status != 503 {
		t.Errorf("handshake = %d; want the fault on every /v1/ endpoint", a.status)
	}
	if got := s.Faults().StatusRates[503]; got != 1 {
		t.Errorf("Faults() = %v", got)
	}
	s.SetFaults(Faults{})
	if a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload))); a.status != http.StatusAccepted {
		t.Errorf("after clearing faults = %d %s", a.status, a.raw)
	}
	if st := s.Stats(); st.Ingest(503) != 1 || st.Ingest(202) != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v", st.Requests)
	}
}

// TestSeedReproducible checks that one seed gives one sequence of faults.
func TestSeedReproducible(t *testing.T) {
	run := func(seed uint64) []int {
		_, ts := newSim(t, Options{Seed: seed, Faults: Faults{StatusRates: map[int]float64{500: 0.25, 503: 0.25}}})
		var got []int
		for range 24 {
			got = append(got, get(t, ts.URL+"/v1/ingest").status)
		}
		return got
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("different seeds, same faults: %v", a)
	}
	if !slices.Contains(a, 500) || !slices.Contains(a, 503) || !slices.Contains(a, 405) {
		t.Errorf("24 draws at 25%%/25%% gave %v", a)
	}
}

func TestFault429RetryAfter(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	s.SetFaults(Faults{StatusRates: map[int]float64{429: 1}, RetryAfter: 1500 * time.Millisecond})
	a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload)))
	e, _ := a.body["error"].(map[string]any)
	if a.status != 429 || a.header.Get("Retry-After") != "2" || e["retry_after"] != 2.0 {
		t.Errorf("= %d Retry-After %q %s; want 429, 2 s (rounded up)", a.status, a.header.Get("Retry-After"), a.raw)
	}
}

func TestRateLimit(t *testing.T) {
	_, ts := newSim(t, Options{Limits: Limits{RequestsPerMinute: 2}})
	var a answer
	for i := range 3 {
		a = postJSON(t, ts.URL+"/v1/handshake/init", testKey, map[string]string{"api_key": testKey})
		if i < 2 && (a.status != 200 || a.header.Get("X-RateLimit-Remaining") != itoa(1-i)) {
			t.Errorf("request %d = %d remaining %q", i, a.status, a.header.Get("X-RateLimit-Remaining"))
		}
	}
	if a.status != 429 || a.errCode() != "rate_limit_exceeded" || a.header.Get("Retry-After") == "" || a.header.Get("X-RateLimit-Limit") != "2" || a.header.Get("X-RateLimit-Reset") == "" {
		t.Errorf("third request = %d %v %s; want 429 with Retry-After and rate-limit headers", a.status, a.header, a.raw)
	}
}

func TestFaultLatency(t *testing.T) {
	_, ts := newSim(t, Options{Faults: Faults{Latency: 150 * time.Millisecond}})
	start := time.Now()
	get(t, ts.URL+"/v1/ingest")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v; want at least the injected 150ms", d)
	}
	start = time.Now()
	get(t, ts.URL+"/health")
	if d := time.Since(start); d >= 150*time.Millisecond {
		t.Errorf("/health took %v; latency applies to /v1/ only", d)
	}
}

func TestFaultDrops(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	body := multipartBody(sealed(t, key, id, 1, 1, logPayload))
	post := func() error {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	s.SetFaults(Faults{DropRate: 1})
	if err := post(); err == nil {
		t.Error("dropped request got an answer")
	}
	if st := s.Stats(); st.Dropped != 1 || st.Accepted != 0 {
		t.Errorf("after a drop: %+v; want 1 dropped, nothing accepted", st)
	}
	s.SetFaults(Faults{DropAfterAcceptRate: 1})
	if err := post(); err == nil {
		t.Error("dropped request got an answer")
	}
	if st := s.Stats(); st.Dropped != 2 || st.Accepted != 1 || st.DroppedAccepted != 1 || len(s.Accepted()) != 1 {
		t.Errorf("after a drop after accept: %+v; want the entry accepted", st)
	}
}

func TestFaultQuota(t *testing.T) {
	_, base, key, id := newSession(t, Options{Faults: Faults{Quota: []Category{CategoryAudit}, RetryAfter: 30 * time.Second}})
	// Quota faults touch /v1/ingest only, so the handshake above went through.
	audit := `{"v":"2.0","type":"audit","source":"iam","action":"delete"}`
	a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload), sealed(t, key, id, 5, 1, audit)))
	if a.status != 507 || a.errCode() != "quota_exceeded" || a.header.Get("Retry-After") != "30" {
		t.Errorf("mixed request = %d %s; want 507 for the audit entry", a.status, a.raw)
	}
	if a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload))); a.status != http.StatusAccepted {
		t.Errorf("events request = %d; want 202: only audit is over quota", a.status)
	}
	for et, cat := range map[int]Category{1: CategoryEvents, 2: CategoryEvents, 4: CategoryEvents, 3: CategoryTraces, 6: CategoryTraces, 7: CategoryTraces, 5: CategoryAudit} {
		if CategoryOf(et) != cat {
			t.Errorf("CategoryOf(%d) = %s; want %s", et, CategoryOf(et), cat)
		}
	}
}

func TestFaultPartFailures(t *testing.T) {
	s, base, key, id := newSession(t, Options{Seed: 3, Faults: Faults{PartFailureRate: 0.5}})
	var parts []tpart
	for range 20 {
		parts = append(parts, sealed(t, key, id, 1, 1, logPayload))
	}
	a := ingest(t, base, testKey, multipartBody(parts...))
	total, ok, failed, idx := batchData(t, a)
	if a.status != http.StatusOK || total != 20 || ok+failed != 20 || ok == 0 || failed == 0 || len(idx) != failed {
		t.Fatalf("= %d %s; want 200 with some failures", a.status, a.raw)
	}
	acc := s.Accepted()
	if len(acc) != ok {
		t.Fatalf("accepted %d; answer says %d", len(acc), ok)
	}
	for _, r := range acc {
		if slices.Contains(idx, r.Index) {
			t.Errorf("part %d reported failed but accepted", r.Index)
		}
	}
}

// TestFaultPartFailuresAll: parts that all fail for the server's own
// reasons are a success answer naming them, not a 400 (which would tell a
// client the entries are bad).
func TestFaultPartFailuresAll(t *testing.T) {
	_, base, key, id := newSession(t, Options{Faults: Faults{PartFailureRate: 1}})
	a := ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload), sealed(t, key, id, 1, 1, logPayload)))
	if total, ok, failed, idx := batchData(t, a); a.status != http.StatusOK || total != 2 || ok != 0 || failed != 2 || len(idx) != 2 {
		t.Errorf("= %d %s; want 200 with both failed", a.status, a.raw)
	}
	a = ingest(t, base, testKey, multipartBody(sealed(t, key, id, 1, 1, logPayload), sealed(t, key, id, 1, 1, "not json")))
	if a.status != http.StatusBadRequest {
		t.Errorf("with one invalid part = %d %s; want 400", a.status, a.raw)
	}
}

func TestFaultSessionExpiry(t *testing.T) {
	s, base, key, id := newSession(t, Options{Faults: Faults{SessionRequests: 2}})
	body := multipartBody(sealed(t, key, id, 1, 1, logPayload))
	for i, want := range []int{202, 202, 401} {
		if a := ingest(t, base, testKey, body); a.status != want {
			t.Errorf("request %d = %d %s; want %d", i, a.status, a.raw, want)
		} else if want == 401 && a.errCode() != "invalid_key_id" {
			t.Errorf("401 code = %s", a.errCode())
		}
	}
	s.SetFaults(Faults{})
	id2 := handshake(t, base, testKey, key)
	body = multipartBody(sealed(t, key, id2, 1, 1, logPayload))
	if a := ingest(t, base, testKey, body); a.status != 202 {
		t.Fatalf("after a new handshake = %d", a.status)
	}
	if n := s.ExpireSessions(); n != 1 {
		t.Errorf("ExpireSessions = %d; want 1", n)
	}
	if a := ingest(t, base, testKey, body); a.status != 401 {
		t.Errorf("after ExpireSessions = %d; want 401", a.status)
	}
	if st := s.Stats(); st.Expired != 2 || st.Sessions != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaultBodyLimit(t *testing.T) {
	s, base, key, id := newSession(t, Options{})
	s.SetFaults(Faults{BodyLimit: 600})
	var parts []tpart
	for range 3 {
		parts = append(parts, sealed(t, key, id, 1, 1, logPayload))
	}
	if a := ingest(t, base, testKey, multipartBody(parts...)); a.status != 413 || a.errCode() != "request_too_large" {
		t.Errorf("= %d %s; want 413 under the proxy limit", a.status, a.raw)
	}
	if a := ingest(t, base, testKey, multipartBody(parts[0])); a.status != 202 {
		t.Errorf("small request = %d %s", a.status, a.raw)
	}
}
