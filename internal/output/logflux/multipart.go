package logflux

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strconv"
)

// boundaryLen is the length of the random boundaries newBoundary makes.
const boundaryLen = 32

// part is one entry as sent: its headers' values and its ciphertext.
type part struct {
	entryType   int
	payloadType int
	keyID       string
	nonce       []byte
	timestamp   string
	body        []byte
}

// header returns the part headers, spelled as the API documents them.
// (textproto.MIMEHeader.Set would canonicalise X-LF-… to X-Lf-…; the
// multipart writer writes map keys as they are.)
func (p *part) header() textproto.MIMEHeader {
	return textproto.MIMEHeader{
		"Content-Type":      {"application/octet-stream"},
		"X-LF-Entry-Type":   {strconv.Itoa(p.entryType)},
		"X-LF-Payload-Type": {strconv.Itoa(p.payloadType)},
		"X-LF-Key-ID":       {p.keyID},
		"X-LF-Nonce":        {base64.StdEncoding.EncodeToString(p.nonce)},
		"X-LF-Timestamp":    {p.timestamp},
	}
}

// newBoundary returns 32 random hex digits.
func newBoundary() string {
	var b [boundaryLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeParts writes a multipart/mixed body and returns its Content-Type.
func encodeParts(buf *bytes.Buffer, boundary string, parts []part) (string, error) {
	mw := multipart.NewWriter(buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return "", fmt.Errorf("multipart boundary: %w", err)
	}
	for i := range parts {
		w, err := mw.CreatePart(parts[i].header())
		if err != nil {
			return "", fmt.Errorf("multipart part: %w", err)
		}
		if _, err := w.Write(parts[i].body); err != nil {
			return "", fmt.Errorf("multipart part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("multipart close: %w", err)
	}
	return "multipart/mixed; boundary=" + boundary, nil
}

// The exact sizes multipart.Writer produces, so that requests can be packed
// up to the size limit without encoding them twice:
//
//	--B CRLF headers CRLF body            first part
//	CRLF --B CRLF headers CRLF body       every further part
//	CRLF --B-- CRLF                       close
//
// where each header line is "Name: value" CRLF.

// partSize returns the bytes a part with header h and a body of bodyLen
// bytes adds to a request body, counting the CRLF that precedes every part
// but the first (bodySize takes it off once).
func partSize(boundaryLen int, h textproto.MIMEHeader, bodyLen int) int {
	n := 2 + 2 + boundaryLen + 2 + 2 + bodyLen
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// bodySize returns the size of a request body holding parts whose partSize
// add up to sum.
func bodySize(boundaryLen, parts, sum int) int {
	if parts > 0 {
		sum -= 2
	}
	return sum + 2 + 2 + boundaryLen + 2 + 2
}
