package ingestsim

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

const (
	testKey    = "eu-lf_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"
	boundary   = "logflux"
	keyPEMPath = "testdata/rsa2048.pem"
)

// vectors are fixed test vectors made outside Go: the RSA-OAEP wrap with
// OpenSSL, the AES-256-GCM ciphertexts with Python's cryptography.
type vectors struct {
	AESKeyHex      string `json:"aes_key_hex"`
	WrappedKey     string `json:"wrapped_key_b64"`
	WrappedKeySHA1 string `json:"wrapped_key_mgf1_sha1_b64"`
	Entries        []struct {
		EntryType  int    `json:"entry_type"`
		Payload    string `json:"payload"`
		Gzip       string `json:"gzip_b64"`
		Nonce      string `json:"nonce_b64"`
		Ciphertext string `json:"ciphertext_b64"`
	} `json:"entries"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v vectors) aesKey(t testing.TB) []byte {
	k, err := hex.DecodeString(v.AESKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newSim starts a simulator on an httptest server with the fixed key.
func newSim(t testing.TB, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.PrivateKey == nil && opts.KeyFile == "" {
		opts.KeyFile = keyPEMPath
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := s.Shutdown(t.Context()); err != nil {
			t.Error(err)
		}
	})
	return s, ts
}

// answer is a decoded JSON answer with its status.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// data returns the handshake fields, top-level or under data.
func (a answer) data() map[string]any {
	if d, ok := a.body["data"].(map[string]any); ok {
		return d
	}
	return a.body
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, raw)
		}
		if a.status >= 400 {
			checkErrorShape(t, a)
		}
	}
	return a
}

// checkErrorShape asserts the documented error body.
func checkErrorShape(t testing.TB, a answer) {
	t.Helper()
	e, ok := a.body["error"].(map[string]any)
	if a.body["status"] != "error" || !ok || e["code"] == "" || e["message"] == "" {
		t.Errorf("error body has not the documented shape: %s", a.raw)
	}
	if id, _ := a.body["request_id"].(string); id == "" {
		t.Errorf("error body has no request_id: %s", a.raw)
	}
}

func postJSON(t testing.TB, url, apiKey string, body any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	return do(t, req)
}

// handshake runs both steps with aesKey wrapped by the test itself and
// returns the key id.
func handshake(t testing.TB, base, apiKey string, aesKey []byte) string {
	t.Helper()
	init := postJSON(t, base+"/v1/handshake/init", apiKey, map[string]string{"api_key": apiKey})
	if init.status != http.StatusOK {
		t.Fatalf("init: %d %s", init.status, init.raw)
	}
	pemText, _ := init.data()["public_key"].(string)
	blk, _ := pem.Decode([]byte(pemText))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("init: public_key is not a PEM PUBLIC KEY: %q", pemText)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), aesKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := postJSON(t, base+"/v1/handshake/complete", apiKey, map[string]string{
		"api_key": apiKey, "encrypted_secret": base64.StdEncoding.EncodeToString(wrapped)})
	if done.status != http.StatusOK {
		t.Fatalf("complete: %d %s", done.status, done.raw)
	}
	id, _ := done.data()["key_id"].(string)
	if !isUUID(id) {
		t.Fatalf("complete: key_id %q is not a UUID: %s", id, done.raw)
	}
	return id
}

// header is one part header line; parts keep their headers in order.
type header struct{ name, value string }

type tpart struct {
	headers []header
	body    []byte
}

// with returns a copy of p with header name set to value ("" removes it).
func (p tpart) with(name, value string) tpart {
	var hs []header
	found := false
	for _, h := range p.headers {
		if strings.EqualFold(h.name, name) {
			found = true
			if value == "" {
				continue
			}
			h.value = value
		}
		hs = append(hs, h)
	}
	if !found && value != "" {
		hs = append(hs, header{name, value})
	}
	p.headers = hs
	return p
}

// multipartBody writes parts by hand, exactly as the spec shows them.
func multipartBody(parts ...tpart) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n")
		for _, h := range p.headers {
			b.WriteString(h.name + ": " + h.value + "\r\n")
		}
		b.WriteString("\r\n")
		b.Write(p.body)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sealed builds a valid part: payload → (gzip if payloadType 1) → AES-256-GCM.
func sealed(t testing.TB, key []byte, keyID string, entryType, payloadType int, payload string) tpart {
	t.Helper()
	plain := []byte(payload)
	if payloadType == PayloadAESGzip {
		plain = gz(t, payload)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return tpart{
		headers: []header{
			{"Content-Type", "application/octet-stream"},
			{"X-LF-Entry-Type", itoa(entryType)},
			{"X-LF-Payload-Type", itoa(payloadType)},
			{"X-LF-Key-ID", keyID},
			{"X-LF-Nonce", base64.StdEncoding.EncodeToString(nonce)},
			{"X-LF-Timestamp", "2026-11-25T09:29:59.123Z"},
		},
		body: aead.Seal(nil, nonce, plain, nil),
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func ingest(t testing.TB, base, apiKey string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/ingest", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	return do(t, req)
}

// batchData returns data.total, succeeded, failed and the failure indexes.
func batchData(t testing.TB, a answer) (total, ok, failed int, failIdx []int) {
	t.Helper()
	d, _ := a.body["data"].(map[string]any)
	if d == nil {
		t.Fatalf("answer has no data: %s", a.raw)
	}
	num := func(k string) int { f, _ := d[k].(float64); return int(f) }
	fs, _ := d["failures"].([]any)
	for _, f := range fs {
		m := f.(map[string]any)
		failIdx = append(failIdx, int(m["index"].(float64)))
	}
	return num("total"), num("succeeded"), num("failed"), failIdx
}

const logPayload = `{"v":"2.0","type":"log","source":"api","level":4,"ts":"2026-11-25T09:29:59Z","message":"Connection timeout after 5s"}`
