package ingestsim

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Payload types of the X-LF-Payload-Type part header.
const (
	// PayloadAESGzip is AES-256-GCM over gzip (published).
	PayloadAESGzip = 1
	// PayloadAES is AES-256-GCM over the bare JSON. The published API
	// defines no label for it (it says only that uncompressed parts must not
	// be labelled 1); this project uses 2, which the SDKs leave undefined.
	PayloadAES = 2
	// PayloadGzip is gzip only, for entry type 7 (published by the SDKs).
	PayloadGzip = 3
)

// part is one multipart part as read.
type part struct {
	header textproto.MIMEHeader
	body   []byte
}

// partHeaders are a part's parsed X-LF-* headers.
type partHeaders struct {
	entryType   int
	payloadType int
	keyID       string
	nonce       []byte
	timestamp   string
}

type failure struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

type batchResult struct {
	Success   bool      `json:"success"`
	Total     int       `json:"total"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Failures  []failure `json:"failures,omitempty"`
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethod(w, r, http.MethodPost) {
		return
	}
	key, e := s.authenticate(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_content_type", message: "Content-Type must be multipart/mixed with a boundary"})
		return
	}
	f := s.Faults()
	limit := s.limits.MaxRequestSize
	if f.BodyLimit > 0 && f.BodyLimit < limit {
		limit = f.BodyLimit
	}
	if r.ContentLength > int64(limit) {
		s.writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, code: "request_too_large",
			message: fmt.Sprintf("request body of %d bytes exceeds %d", r.ContentLength, limit)})
		return
	}
	parts, e := s.readParts(http.MaxBytesReader(w, r.Body, int64(limit)), params["boundary"], limit)
	if e != nil {
		s.writeError(w, e)
		return
	}

	// Headers first: a request naming an unknown session, or holding an
	// entry of a category over quota, is refused as a whole.
	heads := make([]partHeaders, len(parts))
	fails := make([]error, len(parts))
	var keyIDs []string
	for i, p := range parts {
		heads[i], fails[i] = parseHeaders(p.header)
		if fails[i] == nil && heads[i].keyID != "" && !slices.Contains(keyIDs, heads[i].keyID) {
			keyIDs = append(keyIDs, heads[i].keyID)
		}
	}
	keys, e := s.useSessions(key, keyIDs, f.SessionRequests)
	if e != nil {
		s.writeError(w, e)
		return
	}
	for i, h := range heads {
		if fails[i] == nil && slices.Contains(f.Quota, CategoryOf(h.entryType)) {
			ae := injectedError(http.StatusInsufficientStorage, f.RetryAfter)
			ae.message = fmt.Sprintf("quota exceeded for category %s", CategoryOf(h.entryType))
			ae.details = "category=" + string(CategoryOf(h.entryType))
			s.writeError(w, ae)
			return
		}
	}

	reqID := w.Header().Get("X-Request-ID")
	var accepted []Record
	for i, p := range parts {
		if fails[i] != nil {
			continue
		}
		h := heads[i]
		payload, mislabelled, err := open(h, keys[h.keyID], p.body)
		if err != nil {
			fails[i] = err
			continue
		}
		accepted = append(accepted, Record{
			Mislabelled: mislabelled,
			Payload:     payload,
			EntryType:   h.entryType,
			PayloadType: h.payloadType,
			KeyID:       h.keyID,
			Nonce:       base64.StdEncoding.EncodeToString(h.nonce),
			Timestamp:   h.timestamp,
			RequestID:   reqID,
			Index:       i,
		})
	}

	res := batchResult{Total: len(parts)}
	invalid := len(parts) - len(accepted) // failures that are the client's fault
	s.mu.Lock()
	kept := accepted[:0]
	for _, rec := range accepted {
		if s.chanceLocked(f.PartFailureRate) {
			fails[rec.Index] = errors.New("temporary storage failure (injected)")
			continue
		}
		kept = append(kept, rec)
	}
	accepted = kept
	for i, err := range fails {
		if err != nil {
			res.Failures = append(res.Failures, failure{Index: i, Error: err.Error()})
		}
	}
	res.Succeeded, res.Failed = len(accepted), len(res.Failures)
	res.Success = res.Failed == 0
	s.commitLocked(accepted)
	mislabelLog := s.noteMislabelledLocked(accepted)
	s.stats.Failed += int64(res.Failed)
	dropAfter := len(accepted) > 0 && s.chanceLocked(f.DropAfterAcceptRate)
	if dropAfter {
		s.stats.DroppedAccepted += int64(len(accepted))
	}
	s.mu.Unlock()
	mislabelLog()

	switch {
	case dropAfter:
		dropConn(w)
	case res.Failed == 0:
		s.success(w, http.StatusAccepted, fmt.Sprintf("accepted %d entries", res.Total), res)
	case res.Succeeded > 0 || invalid == 0:
		// Some went in, or all failed for the server's own (transient)
		// reasons: a success answer naming the failures.
		s.success(w, http.StatusOK, fmt.Sprintf("accepted %d of %d entries", res.Succeeded, res.Total), res)
	default:
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_entries",
			message: fmt.Sprintf("none of the %d entries was accepted", res.Total),
			details: fmt.Sprintf("part %d: %s", res.Failures[0].Index, res.Failures[0].Error), data: res})
	}
}

// readParts reads every part, enforcing the request limits.
func (s *Server) readParts(body io.Reader, boundary string, limit int) ([]part, *apiError) {
	tooLarge := func(err error) *apiError {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "request_too_large", message: fmt.Sprintf("request body exceeds %d bytes", limit)}
		}
		return &apiError{status: http.StatusBadRequest, code: "invalid_multipart", message: "malformed multipart body: " + err.Error()}
	}
	tail := &tailReader{r: body, max: len(boundary) + 64}
	mr := multipart.NewReader(tail, boundary)
	var parts []part
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			// The multipart reader also says EOF for a body cut short inside
			// a part's headers: insist on the close delimiter.
			if _, err := io.Copy(io.Discard, tail); err != nil {
				return nil, tooLarge(err)
			}
			if !bytes.HasSuffix(bytes.TrimRight(tail.tail, " \t\r\n"), []byte("--"+boundary+"--")) {
				return nil, &apiError{status: http.StatusBadRequest, code: "invalid_multipart", message: "malformed multipart body: it does not end with the close delimiter --" + boundary + "--"}
			}
			break
		}
		if err != nil {
			return nil, tooLarge(err)
		}
		if i >= s.limits.MaxBatchSize {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_many_entries",
				message: fmt.Sprintf("more than %d entries in one request", s.limits.MaxBatchSize)}
		}
		b, err := io.ReadAll(io.LimitReader(p, int64(s.limits.MaxPayloadSize)+1))
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(b) > s.limits.MaxPayloadSize {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "entry_too_large",
				message: fmt.Sprintf("part %d exceeds %d bytes", i, s.limits.MaxPayloadSize), details: fmt.Sprintf("index=%d", i)}
		}
		parts = append(parts, part{header: p.Header, body: b})
	}
	if len(parts) == 0 {
		return nil, &apiError{status: http.StatusBadRequest, code: "empty_batch", message: "a request must hold 1 to 1000 entries"}
	}
	return parts, nil
}

// tailReader remembers the last bytes read through it.
type tailReader struct {
	r    io.Reader
	max  int
	tail []byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.tail = append(t.tail, p[:n]...)
	if len(t.tail) > t.max {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-t.max:]...)
	}
	return n, err
}

// parseHeaders checks a part's headers.
func parseHeaders(h textproto.MIMEHeader) (partHeaders, error) {
	var ph partHeaders
	ct := h.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/octet-stream" {
		return ph, fmt.Errorf("Content-Type must be application/octet-stream, not %q", ct)
	}
	var err error
	if ph.entryType, err = strconv.Atoi(h.Get("X-LF-Entry-Type")); err != nil || ph.entryType < 1 || ph.entryType > 7 {
		return ph, fmt.Errorf("X-LF-Entry-Type must be 1 to 7, not %q", h.Get("X-LF-Entry-Type"))
	}
	pt := h.Get("X-LF-Payload-Type")
	switch ph.payloadType, _ = strconv.Atoi(pt); {
	case pt != "1" && pt != "2" && pt != "3":
		return ph, fmt.Errorf("X-LF-Payload-Type must be 1 (AES-256-GCM over gzip), 2 (AES-256-GCM) or 3 (gzip, type 7 only), not %q", pt)
	case ph.payloadType == PayloadGzip && ph.entryType != 7:
		return ph, fmt.Errorf("entry type %d must be encrypted; payload type 3 is for type 7 only", ph.entryType)
	}
	ts := h.Get("X-LF-Timestamp")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ph, fmt.Errorf("X-LF-Timestamp %q is not RFC 3339", ts)
	}
	if _, off := t.Zone(); off != 0 {
		return ph, fmt.Errorf("X-LF-Timestamp %q is not UTC", ts)
	}
	ph.timestamp = ts
	if ph.payloadType == PayloadGzip {
		return ph, nil
	}
	ph.keyID = h.Get("X-LF-Key-ID")
	if !isUUID(ph.keyID) {
		return ph, fmt.Errorf("X-LF-Key-ID %q is not a UUID", ph.keyID)
	}
	nonce := h.Get("X-LF-Nonce")
	if ph.nonce, err = base64.StdEncoding.Strict().DecodeString(nonce); err != nil || len(ph.nonce) != 12 {
		return ph, fmt.Errorf("X-LF-Nonce %q is not the standard base64 of 12 bytes", nonce)
	}
	return ph, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c rune) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// useSessions looks up the sessions a request names, counts the request
// against each and returns their keys; an unknown one is a 401.
func (s *Server) useSessions(apiKey string, keyIDs []string, maxRequests int) (map[string][]byte, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make(map[string][]byte, len(keyIDs))
	for _, id := range keyIDs {
		sess := s.sessions[strings.ToLower(id)]
		if sess == nil || sess.apiKey != apiKey {
			return nil, &apiError{status: http.StatusUnauthorized, code: "invalid_key_id",
				message: "unknown or expired key id " + id + "; handshake again"}
		}
		keys[id] = sess.key
	}
	for _, id := range keyIDs {
		sess := s.sessions[strings.ToLower(id)]
		sess.requests++
		if maxRequests > 0 && sess.requests >= maxRequests {
			delete(s.sessions, strings.ToLower(id))
			s.stats.Expired++
		}
	}
	return keys, nil
}

// gzipMagic starts every gzip stream (RFC 1952); a JSON payload cannot.
var gzipMagic = []byte{0x1f, 0x8b}

// mislabelLogEvery is how often at most the simulator logs that parts
// labelled gzip were not compressed.
const mislabelLogEvery = 10 * time.Second

// noteMislabelledLocked counts the accepted records whose label claimed gzip
// over plain JSON, and returns what to log about them once s.mu is
// released: the first, then at most one line per mislabelLogEvery with the
// count since the last line.
func (s *Server) noteMislabelledLocked(recs []Record) func() {
	n := int64(0)
	for _, r := range recs {
		if r.Mislabelled {
			n++
		}
	}
	if n == 0 {
		return func() {}
	}
	s.stats.Mislabelled += n
	s.mislabelUnlogged += n
	now := time.Now()
	if !s.mislabelLogged.IsZero() && now.Sub(s.mislabelLogged) < mislabelLogEvery {
		return func() {}
	}
	since, total := s.mislabelUnlogged, s.stats.Mislabelled
	s.mislabelLogged, s.mislabelUnlogged = now, 0
	return func() {
		s.log.Warn("ingestsim: parts labelled gzip (X-LF-Payload-Type 1 or 3) were not compressed; accepted as plain JSON. "+
			"The official v3 Go SDK sends these with compression off; the real service never decrypts, so it cannot notice",
			"entries", since, "total", total)
	}
}

// open decrypts and decompresses one part and checks its payload, returning
// the payload compacted. A part labelled gzip (payload type 1 or 3) whose
// content is not gzip is decoded as the plain JSON it then must be, and
// reported mislabelled: the official v3 Go SDK labels every part gzip, also
// with compression off.
func open(h partHeaders, key []byte, body []byte) (json.RawMessage, bool, error) {
	plain := body
	if h.payloadType != PayloadGzip {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, false, fmt.Errorf("session key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, false, fmt.Errorf("session key: %w", err)
		}
		if plain, err = aead.Open(nil, h.nonce, body, nil); err != nil {
			return nil, false, errors.New("decryption failed: wrong key, nonce or a damaged ciphertext")
		}
	}
	mislabelled := h.payloadType != PayloadAES && !bytes.HasPrefix(plain, gzipMagic)
	if h.payloadType != PayloadAES && !mislabelled {
		zr, err := gzip.NewReader(bytes.NewReader(plain))
		if err != nil {
			return nil, false, fmt.Errorf("payload type %d but not gzip: %w", h.payloadType, err)
		}
		if plain, err = io.ReadAll(io.LimitReader(zr, maxDecompressed+1)); err != nil {
			return nil, false, fmt.Errorf("gunzip: %w", err)
		}
		if len(plain) > maxDecompressed {
			return nil, false, fmt.Errorf("payload inflates beyond %d bytes", maxDecompressed)
		}
	}
	if err := validatePayload(h.entryType, plain); err != nil {
		if mislabelled {
			return nil, false, fmt.Errorf("payload type %d but not gzip, nor a valid plain payload: %w", h.payloadType, err)
		}
		return nil, false, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, plain); err != nil {
		return nil, false, fmt.Errorf("payload: %w", err)
	}
	return buf.Bytes(), mislabelled, nil
}

// commitLocked keeps accepted records in memory and appends them to Out.
func (s *Server) commitLocked(recs []Record) {
	if len(recs) == 0 {
		return
	}
	s.stats.Accepted += int64(len(recs))
	if s.opts.Retain > 0 {
		s.accepted = append(s.accepted, recs...)
		if over := len(s.accepted) - s.opts.Retain; over > 0 {
			s.accepted = slices.Delete(s.accepted, 0, over)
		}
	}
	if s.out != nil {
		var buf bytes.Buffer
		for _, r := range recs {
			buf.Write(r.Payload)
			buf.WriteByte('\n')
		}
		if _, err := s.out.Write(buf.Bytes()); err != nil {
			s.log.Warn("ingestsim: write output", "error", err)
		}
	}
}

// typeNames maps entry types to the payload's type field.
var typeNames = map[int]string{1: "log", 2: "metric", 3: "trace", 4: "event", 5: "audit", 6: "telemetry", 7: "telemetry"}

// fieldRule checks one optional per-type field.
type fieldRule func(v any) bool

func isString(v any) bool { _, ok := v.(string); return ok }
func isNumber(v any) bool { _, ok := v.(json.Number); return ok }
func isTime(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
func isHexID(n int) fieldRule {
	return func(v any) bool {
		s, ok := v.(string)
		if !ok || len(s) != n {
			return false
		}
		for _, c := range s {
			if !isHex(c) {
				return false
			}
		}
		return true
	}
}
func isOneOf(vals ...string) fieldRule {
	return func(v any) bool { s, ok := v.(string); return ok && slices.Contains(vals, s) }
}

// typeFields are the per-type fields whose form is checked when present.
var typeFields = map[string]map[string]fieldRule{
	"log":    {"message": isString, "logger": isString},
	"metric": {"name": isString, "value": isNumber, "unit": isString, "kind": isOneOf("counter", "gauge", "distribution")},
	"trace": {"trace_id": isHexID(32), "span_id": isHexID(16), "parent_span_id": isHexID(16), "operation": isString,
		"name": isString, "start_time": isTime, "end_time": isTime, "duration_ms": isNumber, "status": isString},
	"event":     {"event": isString},
	"audit":     {"action": isString, "actor": isString, "actor_type": isString, "resource": isString, "resource_id": isString, "outcome": isString},
	"telemetry": {"device_id": isString},
}

// requiredField is the field that names an entry of each type; the
// simulator insists on it (the SDKs always send it).
var requiredField = map[string][]string{
	"log": {"message"}, "metric": {"name"}, "trace": {"name", "operation"}, "event": {"event"}, "audit": {"action"},
}

// validatePayload checks a decrypted payload against schema v2.0.
func validatePayload(entryType int, plain []byte) error {
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	var p map[string]any
	if err := dec.Decode(&p); err != nil || p == nil {
		return errors.New("payload is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("payload has data after its JSON object")
	}
	if v, _ := p["v"].(string); v != "2.0" {
		return fmt.Errorf(`payload v is %v, not "2.0"`, p["v"])
	}
	typ, _ := p["type"].(string)
	if want := typeNames[entryType]; typ != want {
		return fmt.Errorf("payload type %q does not match X-LF-Entry-Type %d (%s)", typ, entryType, want)
	}
	if src, ok := p["source"].(string); !ok || src == "" || utf8.RuneCountInString(src) > 256 {
		return errors.New("payload source must be a string of 1 to 256 characters")
	}
	if lv, ok := p["level"]; ok {
		n, isNum := lv.(json.Number)
		i, err := n.Int64()
		if !isNum || err != nil || i < 1 || i > 8 {
			return fmt.Errorf("payload level %v is not an integer from 1 to 8", lv)
		}
	}
	if ts, ok := p["ts"]; ok && !isTime(ts) {
		return fmt.Errorf("payload ts %v is not RFC 3339", ts)
	}
	if a, ok := p["attributes"]; ok {
		attrs, isObj := a.(map[string]any)
		if !isObj {
			return errors.New("payload attributes is not an object")
		}
		if len(attrs) > 50 {
			return fmt.Errorf("payload has %d attributes; at most 50", len(attrs))
		}
		for k, v := range attrs {
			sv, isStr := v.(string)
			switch {
			case !isStr:
				return fmt.Errorf("attribute %q is not a string", k)
			case k == "" || utf8.RuneCountInString(k) > 64:
				return fmt.Errorf("attribute key %q is not 1 to 64 characters", k)
			case utf8.RuneCountInString(sv) > 256:
				return fmt.Errorf("attribute %q is longer than 256 characters", k)
			}
		}
	}
	if m, ok := p["meta"]; ok {
		if _, isObj := m.(map[string]any); !isObj {
			return errors.New("payload meta is not an object")
		}
	}
	for name, ok := range typeFields[typ] {
		if v, present := p[name]; present && !ok(v) {
			return fmt.Errorf("%s field %s has the wrong form: %v", typ, name, v)
		}
	}
	if req := requiredField[typ]; len(req) > 0 && !slices.ContainsFunc(req, func(f string) bool { _, ok := p[f]; return ok }) {
		return fmt.Errorf("%s payload needs %s", typ, strings.Join(req, " or "))
	}
	return nil
}
