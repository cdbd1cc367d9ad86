package logflux

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vectors are fixed test vectors made outside Go: the RSA-OAEP wrap with
// OpenSSL, the AES-256-GCM ciphertexts with Python's cryptography.
type vectors struct {
	AESKeyHex  string `json:"aes_key_hex"`
	WrappedKey string `json:"wrapped_key_b64"`
	Entries    []struct {
		EntryType  int    `json:"entry_type"`
		Payload    string `json:"payload"`
		Gzip       string `json:"gzip_b64"`
		Nonce      string `json:"nonce_b64"`
		Ciphertext string `json:"ciphertext_b64"`
	} `json:"entries"`
}

func loadVectors(t *testing.T) vectors {
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

func testPrivateKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/rsa2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func pubPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGCMKnownAnswers checks the AES-256-GCM layout (ciphertext, then the
// 16-byte tag) against the GCM specification's test cases 13 and 14.
func TestGCMKnownAnswers(t *testing.T) {
	aead, err := newAEAD(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	if got := hex.EncodeToString(sealWith(aead, nonce, nil)); got != "530f8afbc74536b9a963b4f1c4cb738b" {
		t.Errorf("test case 13 = %s", got)
	}
	if got := hex.EncodeToString(sealWith(aead, nonce, make([]byte, 16))); got != "cea7403d4d606b6e074ec5d3baf39d18"+"d0d1c8a799996bf0265b98b5d48ab919" {
		t.Errorf("test case 14 = %s", got)
	}
}

// TestSealFixedVectors: a fixed key and nonce give the ciphertext Python
// made, and the ciphertext opens to the gzip of the payload.
func TestSealFixedVectors(t *testing.T) {
	v := loadVectors(t)
	aead, err := newAEAD(unhex(t, v.AESKeyHex))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Entries {
		gz, nonce, ct := b64(t, e.Gzip), b64(t, e.Nonce), b64(t, e.Ciphertext)
		if got := sealWith(aead, nonce, gz); !bytes.Equal(got, ct) {
			t.Errorf("seal(%s) = %x; want %x", e.Payload, got, ct)
		}
		plain, err := aead.Open(nil, nonce, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(plain))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); string(got) != e.Payload {
			t.Errorf("opened %q; want %q", got, e.Payload)
		}
	}
}

func TestSealFreshNonces(t *testing.T) {
	aead, _ := newAEAD(make([]byte, 32))
	seen := map[string]bool{}
	for range 1000 {
		nonce, ct := seal(aead, []byte("same plaintext"))
		if len(nonce) != 12 || len(ct) != len("same plaintext")+16 {
			t.Fatalf("nonce %d bytes, ciphertext %d bytes", len(nonce), len(ct))
		}
		if seen[string(nonce)] {
			t.Fatal("a nonce came twice")
		}
		seen[string(nonce)] = true
		if plain, err := aead.Open(nil, nonce, ct, nil); err != nil || string(plain) != "same plaintext" {
			t.Fatalf("round trip: %q %v", plain, err)
		}
	}
}

// TestSessionKeyWrap checks that a wrapped session key unwraps with the
// published parameters, and with OpenSSL when it is installed.
func TestSessionKeyWrap(t *testing.T) {
	priv := testPrivateKey(t)
	pub, err := parsePublicKey(pubPEM(t, &priv.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	key, wrapped, err := newSessionKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key2, _, _ := newSessionKey(pub)
	if len(key) != 32 || bytes.Equal(key, key2) {
		t.Fatalf("session keys %x, %x: want 32 fresh bytes each", key, key2)
	}
	got, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap with SHA-256/MGF1-SHA-256: %x %v", got, err)
	}
	// The fixed vector OpenSSL wrapped must unwrap to the fixed key.
	v := loadVectors(t)
	if got, err := rsa.DecryptOAEP(sha256.New(), nil, priv, b64(t, v.WrappedKey), nil); err != nil || hex.EncodeToString(got) != v.AESKeyHex {
		t.Errorf("OpenSSL's wrap unwraps to %x, %v", got, err)
	}

	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed: no independent unwrap")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "wrapped.bin")
	os.WriteFile(in, wrapped, 0o600)
	out, err := exec.Command(openssl, "pkeyutl", "-decrypt", "-inkey", "testdata/rsa2048.pem", "-in", in,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256").Output()
	if err != nil {
		t.Fatalf("openssl unwrap: %v", err)
	}
	if !bytes.Equal(out, key) {
		t.Errorf("openssl unwrapped %x; want %x", out, key)
	}
}

func TestParsePublicKey(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv := testPrivateKey(t)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)}))
	for name, s := range map[string]string{
		"empty":          "",
		"no markers":     base64.StdEncoding.EncodeToString([]byte("MIIBIjAN")),
		"PKCS#1 block":   pkcs1,
		"1024-bit":       pubPEM(t, &small.PublicKey),
		"EC key":         pubPEM(t, &ec.PublicKey),
		"damaged base64": strings.Replace(pubPEM(t, &priv.PublicKey), "MII", "!!!", 1),
	} {
		if _, err := parsePublicKey(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parsePublicKey(pubPEM(t, &priv.PublicKey)); err != nil {
		t.Errorf("2048-bit RSA: %v", err)
	}
}

func TestCompressor(t *testing.T) {
	var c compressor
	for _, s := range []string{"first payload", "", strings.Repeat("second ", 1000)} {
		gz, err := c.compress([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); string(got) != s {
			t.Errorf("round trip of %d bytes gave %d", len(s), len(got))
		}
	}
	a, _ := c.compress([]byte("a"))
	b, _ := c.compress([]byte("b"))
	if bytes.Equal(a, b) {
		t.Error("compress returned a shared buffer")
	}
}
