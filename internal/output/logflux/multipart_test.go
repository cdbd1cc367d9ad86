package logflux

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

// TestEncodePartsGolden compares a request body with the documented layout,
// written out by hand.
func TestEncodePartsGolden(t *testing.T) {
	parts := []part{
		{entryType: 1, payloadType: 1, keyID: "7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c", nonce: []byte("abcdefghijkl"), timestamp: "2026-03-15T14:30:45.123Z", body: []byte("\x00\x01ciphertext\xff")},
		{entryType: 5, payloadType: 2, keyID: "7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c", nonce: []byte("mnopqrstuvwx"), timestamp: "2026-03-15T14:30:46Z", body: []byte("second")},
	}
	var buf bytes.Buffer
	ct, err := encodeParts(&buf, "logflux", parts)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "multipart/mixed; boundary=logflux" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := "--logflux\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"X-LF-Entry-Type: 1\r\n" +
		"X-LF-Key-ID: 7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c\r\n" +
		"X-LF-Nonce: YWJjZGVmZ2hpamts\r\n" +
		"X-LF-Payload-Type: 1\r\n" +
		"X-LF-Timestamp: 2026-03-15T14:30:45.123Z\r\n" +
		"\r\n" +
		"\x00\x01ciphertext\xff\r\n" +
		"--logflux\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"X-LF-Entry-Type: 5\r\n" +
		"X-LF-Key-ID: 7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c\r\n" +
		"X-LF-Nonce: bW5vcHFyc3R1dnd4\r\n" +
		"X-LF-Payload-Type: 2\r\n" +
		"X-LF-Timestamp: 2026-03-15T14:30:46Z\r\n" +
		"\r\n" +
		"second\r\n" +
		"--logflux--\r\n"
	if got := buf.String(); got != want {
		t.Errorf("body =\n%q\nwant\n%q", got, want)
	}
}

// TestEncodePartsParses reads a body back with mime/multipart.
func TestEncodePartsParses(t *testing.T) {
	bodies := [][]byte{[]byte("one"), bytes.Repeat([]byte("\r\n--"), 100), {}}
	var parts []part
	for i, b := range bodies {
		parts = append(parts, part{entryType: i + 1, payloadType: 1, keyID: "k", nonce: make([]byte, 12), timestamp: "2026-01-01T00:00:00Z", body: b})
	}
	var buf bytes.Buffer
	ct, err := encodeParts(&buf, newBoundary(), parts)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || len(params["boundary"]) != boundaryLen {
		t.Fatalf("Content-Type %q: %v", ct, err)
	}
	mr := multipart.NewReader(&buf, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			if i != len(bodies) {
				t.Errorf("read %d parts; want %d", i, len(bodies))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if !bytes.Equal(b, bodies[i]) || p.Header.Get("X-LF-Entry-Type") != string(rune('1'+i)) || p.Header.Get("X-LF-Nonce") != "AAAAAAAAAAAAAAAA" {
			t.Errorf("part %d = %q %v", i, b, p.Header)
		}
	}
}

// TestSizesExact checks partSize and bodySize against real bodies, which
// the packing relies on to fill requests up to the limit.
func TestSizesExact(t *testing.T) {
	for n := range 6 {
		var parts []part
		sum := 0
		for i := range n {
			p := part{entryType: i%5 + 1, payloadType: 1, keyID: "7f8a9b0c-1d2e-3f4a-5b6c-7d8e9f0a1b2c", nonce: make([]byte, 12),
				timestamp: "2026-03-15T14:30:45." + strings.Repeat("1", i) + "Z", body: bytes.Repeat([]byte{'x'}, i*37)}
			parts = append(parts, p)
			sum += partSize(boundaryLen, p.header(), len(p.body))
		}
		var buf bytes.Buffer
		if _, err := encodeParts(&buf, newBoundary(), parts); err != nil {
			t.Fatal(err)
		}
		if got := bodySize(boundaryLen, n, sum); got != buf.Len() {
			t.Errorf("%d parts: bodySize = %d; real body %d", n, got, buf.Len())
		}
	}
}
