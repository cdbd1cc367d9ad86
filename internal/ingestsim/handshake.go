package ingestsim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

var regions = []string{"eu", "us", "ca", "au", "ap"}

var (
	errNotIngestKey = errors.New("not an ingestion key: want {region}-lf_<key> or lf_<key>")
	errReadToken    = errors.New("lf_usr_ keys are read-side tokens, not for ingestion")
)

// parseAPIKey checks the form of an ingestion key and returns its region,
// or "" for a legacy key without one.
func parseAPIKey(k string) (region string, err error) {
	rest := k
	if !strings.HasPrefix(k, "lf_") {
		var ok bool
		region, rest, ok = strings.Cut(k, "-")
		if !ok {
			return "", errNotIngestKey
		}
		if !slices.Contains(regions, region) {
			return "", fmt.Errorf("unknown region %q (want one of %s)", region, strings.Join(regions, ", "))
		}
	}
	body, ok := strings.CutPrefix(rest, "lf_")
	if !ok {
		return "", errNotIngestKey
	}
	if strings.HasPrefix(body, "usr_") {
		return "", errReadToken
	}
	if body == "" || len(body) > 256 {
		return "", errors.New("key body must be 1 to 256 characters")
	}
	for _, c := range body {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", errors.New("key body holds a character other than letters, digits, _ and -")
		}
	}
	return region, nil
}

// redact shortens a key for messages.
func redact(k string) string {
	if len(k) <= 10 {
		return "…"
	}
	return k[:8] + "…"
}

// authenticate checks the Bearer key and the per-key rate limit, and sets
// the rate-limit headers.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if h == "" {
		return "", &apiError{status: http.StatusUnauthorized, code: "missing_api_key", message: "Authorization: Bearer <api key> is required"}
	}
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_authorization", message: "Authorization must be Bearer <api key>"}
	}
	region, err := parseAPIKey(key)
	if err != nil {
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: err.Error()}
	}
	switch {
	case region == "" && s.opts.RejectLegacyKeys:
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: "keys without a region prefix are not accepted"}
	case region != "" && s.opts.StrictRegion && region != s.opts.Region:
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: fmt.Sprintf("key of region %s used with region %s", region, s.opts.Region)}
	case len(s.opts.APIKeys) > 0 && !slices.Contains(s.opts.APIKeys, key):
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: "api key not recognised"}
	}
	if e := s.rateLimit(w, key); e != nil {
		return "", e
	}
	return key, nil
}

// rateLimit counts the request in the key's one-minute window.
func (s *Server) rateLimit(w http.ResponseWriter, key string) *apiError {
	limit := s.limits.RequestsPerMinute
	if limit < 0 {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	win := s.windows[key]
	if win == nil || now.Sub(win.start) >= time.Minute {
		win = &window{start: now}
		s.windows[key] = win
	}
	win.n++
	n := win.n
	reset := win.start.Add(time.Minute)
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-n, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if n > limit {
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limit_exceeded",
			message: fmt.Sprintf("more than %d requests a minute for this key", limit), retryAfter: ceilSeconds(reset.Sub(now))}
	}
	return nil
}

// decodeBody reads a JSON object body of at most 64 KiB into v.
func decodeBody(r *http.Request, v any) *apiError {
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(mt), "application/json") {
		return &apiError{status: http.StatusBadRequest, code: "invalid_content_type", message: "Content-Type must be application/json"}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "read body: " + err.Error()}
	}
	if len(b) > 64<<10 {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", message: "handshake body over 64 KiB"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "body is not the expected JSON object: " + err.Error()}
	}
	if dec.More() {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "trailing data after the JSON object"}
	}
	return nil
}

// checkBodyKey compares the api_key in a handshake body with the header's.
func checkBodyKey(bodyKey, headerKey string) *apiError {
	if bodyKey == "" {
		return &apiError{status: http.StatusBadRequest, code: "missing_field", message: "api_key is required"}
	}
	if bodyKey != headerKey {
		return &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: "api_key in the body differs from the Authorization header"}
	}
	return nil
}

// respond answers a handshake step, top-level or wrapped per Options.
func (s *Server) respond(w http.ResponseWriter, data map[string]any) {
	if s.opts.WrapResponses {
		s.success(w, http.StatusOK, "", data)
		return
	}
	data["status"] = "success"
	s.writeJSON(w, http.StatusOK, data)
}

// keyedBody is the part of both handshake bodies that repeats the API key.
type keyedBody struct {
	APIKey string `json:"api_key"`
}

// readHandshake checks a handshake request's method and Authorization
// header, decodes its body into req and checks that the body's key is the
// header's. It answers the error itself and returns "" when it is not.
func (s *Server) readHandshake(w http.ResponseWriter, r *http.Request, req any, body *keyedBody) string {
	if !s.allowMethod(w, r, http.MethodPost) {
		return ""
	}
	key, e := s.authenticate(w, r)
	if e == nil {
		e = decodeBody(r, req)
	}
	if e == nil {
		e = checkBodyKey(body.APIKey, key)
	}
	if e != nil {
		s.writeError(w, e)
		return ""
	}
	return key
}

func (s *Server) handleInit(w http.ResponseWriter, r *http.Request) {
	var req keyedBody
	if s.readHandshake(w, r, &req, &req) == "" {
		return
	}
	s.respond(w, map[string]any{
		"public_key":         s.pubPEM,
		"supports_multipart": true,
		"limits":             s.limits,
	})
}

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		keyedBody
		EncryptedSecret string `json:"encrypted_secret"`
	}
	key := s.readHandshake(w, r, &req, &req.keyedBody)
	if key == "" {
		return
	}
	if req.EncryptedSecret == "" {
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "missing_field", message: "encrypted_secret is required"})
		return
	}
	wrapped, err := base64.StdEncoding.DecodeString(req.EncryptedSecret)
	if err != nil {
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_encrypted_secret", message: "encrypted_secret is not standard base64: " + err.Error()})
		return
	}
	secret, err := s.unwrap(wrapped)
	if err != nil {
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_encrypted_secret", message: "cannot unwrap the session key: " + err.Error()})
		return
	}
	if len(secret) != 32 {
		s.writeError(w, &apiError{status: http.StatusBadRequest, code: "invalid_encrypted_secret", message: fmt.Sprintf("session key is %d bytes; AES-256 needs 32", len(secret))})
		return
	}
	s.mu.Lock()
	id := s.newUUIDLocked()
	s.sessions[id] = &session{apiKey: key, key: secret}
	s.stats.Sessions++
	s.mu.Unlock()
	name := "key_id"
	if s.opts.LegacyKeyUUID {
		name = "key_uuid"
	}
	s.respond(w, map[string]any{name: id})
}

// unwrap decrypts a wrapped session key: RSA-OAEP, SHA-256, MGF1-SHA-256,
// empty label; MGF1-SHA-1 as well when Options.AcceptMGF1SHA1.
func (s *Server) unwrap(wrapped []byte) ([]byte, error) {
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, s.priv, wrapped, nil)
	if err == nil || !s.opts.AcceptMGF1SHA1 {
		return secret, err
	}
	return s.priv.Decrypt(nil, wrapped, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
}
