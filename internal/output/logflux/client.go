package logflux

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The published limits, used where the handshake gives none or more.
const (
	maxBatchSize   = 1000
	maxPayloadSize = 1 << 20
	maxRequestSize = 10 << 20
	maxAnswerSize  = 1 << 20 // bytes of an answer body read
)

// StatusError is an answer of the Ingestion API other than a success.
type StatusError struct {
	Op         string        // "discovery", "handshake init", "handshake complete" or "ingest"
	Status     int           // HTTP status
	Code       string        // error.code of the answer, if any
	Message    string        // error.message, or the start of a body that is not the documented shape
	RequestID  string        // request_id, if any
	RetryAfter time.Duration // Retry-After or error.retry_after; zero if absent
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "logflux %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String() // without RequestID: the same failure reads the same, so it is logged once
}

// NetError is a request that got no answer: the connection failed, was
// closed, or timed out.
type NetError struct {
	Op  string // as in StatusError
	URL string // the base URL asked
	Err error
}

func (e *NetError) Error() string {
	return fmt.Sprintf("logflux %s: no answer from %s: %s", e.Op, e.URL, e.Cause())
}

// Cause names the failure in a few stable words (the error chain itself
// names ephemeral ports and varies with the moment the connection broke),
// so that the same failure reads the same and is logged once.
func (e *NetError) Cause() string {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(e.Err, context.Canceled):
		return "canceled"
	case errors.Is(e.Err, context.DeadlineExceeded), errors.As(e.Err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(e.Err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(e.Err, syscall.ECONNRESET), errors.Is(e.Err, syscall.EPIPE), errors.Is(e.Err, io.EOF),
		errors.Is(e.Err, io.ErrUnexpectedEOF), errors.Is(e.Err, net.ErrClosed):
		return "connection closed before the answer"
	}
	cause := e.Err
	for u := errors.Unwrap(cause); u != nil; u = errors.Unwrap(cause) {
		cause = u
	}
	return cause.Error()
}

func (e *NetError) Unwrap() error { return e.Err }

// answer is a read HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// statusError builds the StatusError of a failed answer.
func (a *answer) statusError(op string) *StatusError {
	e := &StatusError{Op: op, Status: a.status}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			RetryAfter int    `json:"retry_after"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(a.body, &body) == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e.Code, e.Message, e.RequestID = body.Error.Code, body.Error.Message, body.RequestID
		e.RetryAfter = time.Duration(body.Error.RetryAfter) * time.Second
	} else {
		e.Message = strings.TrimSpace(truncate(string(a.body), 200))
	}
	if e.RequestID == "" {
		e.RequestID = a.header.Get("X-Request-ID")
	}
	if d, ok := parseRetryAfter(a.header.Get("Retry-After")); ok {
		e.RetryAfter = d
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// do sends one request and reads its answer. A transport failure comes
// back as an error, any answer as an answer.
func (o *Output) do(ctx context.Context, op, method, url, contentType string, body []byte, auth bool) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("logflux %s: %w", op, err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+o.apiKey)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", o.cfg.UserAgent)
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, &NetError{Op: op, URL: baseURL(url), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize))
	if err != nil {
		return nil, &NetError{Op: op, URL: baseURL(url), Err: fmt.Errorf("read answer: %w", err)}
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// baseURL returns scheme://host of u.
func baseURL(u string) string {
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return scheme + "://" + host
	}
	return u
}

// unwrapData returns the object under "data" if the body has one, else the
// body: the API answers either way.
func unwrapData(body []byte) []byte {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Data) > 0 && env.Data[0] == '{' {
		return env.Data
	}
	return body
}

// discover asks the discovery service for the ingestor's URL.
func (o *Output) discover(ctx context.Context) (string, error) {
	a, err := o.do(ctx, "discovery", http.MethodGet, o.discoveryURL, "", nil, false)
	if err != nil {
		return "", err
	}
	if !a.ok() {
		return "", a.statusError("discovery")
	}
	var doc struct {
		Endpoints struct {
			IngestorURL string `json:"ingestor_url"`
		} `json:"endpoints"`
		IngestorURL string `json:"ingestor_url"` // the authenticated discovery's flat shape
	}
	if err := json.Unmarshal(unwrapData(a.body), &doc); err != nil {
		return "", fmt.Errorf("logflux discovery: answer is not the discovery document: %w", err)
	}
	u := doc.Endpoints.IngestorURL
	if u == "" {
		u = doc.IngestorURL
	}
	if err := checkURL(u); err != nil {
		return "", fmt.Errorf("logflux discovery: ingestor_url: %w", err)
	}
	return strings.TrimRight(u, "/"), nil
}

// session is one handshake's worth of state.
type session struct {
	keyID  string
	aead   cipher.AEAD
	limits limits
	used   bool // an ingest request succeeded with it
}

// limits are the request limits in force for a session.
type limits struct{ batch, payload, request int }

type wireLimits struct {
	MaxBatchSize   int `json:"max_batch_size"`
	MaxPayloadSize int `json:"max_payload_size"`
	MaxRequestSize int `json:"max_request_size"`
}

// effective returns the smaller of each server limit and the published one.
func (w wireLimits) effective() limits {
	pick := func(server, published int) int {
		if server > 0 && server < published {
			return server
		}
		return published
	}
	return limits{
		batch:   pick(w.MaxBatchSize, maxBatchSize),
		payload: pick(w.MaxPayloadSize, maxPayloadSize),
		request: pick(w.MaxRequestSize, maxRequestSize),
	}
}

// handshake runs both steps against base and returns a new session.
func (o *Output) handshake(ctx context.Context, base string) (*session, error) {
	body, _ := json.Marshal(map[string]string{"api_key": o.apiKey})
	a, err := o.do(ctx, "handshake init", http.MethodPost, base+"/v1/handshake/init", "application/json", body, true)
	if err != nil {
		return nil, err
	}
	if !a.ok() {
		return nil, a.statusError("handshake init")
	}
	var init struct {
		PublicKey         string      `json:"public_key"`
		SupportsMultipart *bool       `json:"supports_multipart"`
		Limits            *wireLimits `json:"limits"`
		wireLimits                    // limits flattened into the object, as some servers send them
	}
	if err := json.Unmarshal(unwrapData(a.body), &init); err != nil {
		return nil, fmt.Errorf("logflux handshake init: answer is not the documented object: %w", err)
	}
	pub, err := parsePublicKey(init.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("logflux handshake init: %w", err)
	}
	if init.SupportsMultipart != nil && !*init.SupportsMultipart {
		return nil, errors.New("logflux handshake init: the server does not support multipart ingestion, the only kind this agent sends")
	}
	lim := init.wireLimits
	if init.Limits != nil {
		lim = *init.Limits
	}

	key, wrapped, err := newSessionKey(pub)
	if err != nil {
		return nil, fmt.Errorf("logflux handshake: %w", err)
	}
	body, _ = json.Marshal(map[string]string{"api_key": o.apiKey, "encrypted_secret": base64.StdEncoding.EncodeToString(wrapped)})
	a, err = o.do(ctx, "handshake complete", http.MethodPost, base+"/v1/handshake/complete", "application/json", body, true)
	if err != nil {
		return nil, err
	}
	if !a.ok() {
		return nil, a.statusError("handshake complete")
	}
	var done struct {
		KeyID   string `json:"key_id"`
		KeyUUID string `json:"key_uuid"`
	}
	if err := json.Unmarshal(unwrapData(a.body), &done); err != nil {
		return nil, fmt.Errorf("logflux handshake complete: answer is not the documented object: %w", err)
	}
	id := done.KeyID
	if id == "" {
		id = done.KeyUUID
	}
	if id == "" || strings.ContainsAny(id, "\r\n") {
		return nil, errors.New("logflux handshake complete: the answer holds no usable key_id")
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("logflux handshake: %w", err)
	}
	return &session{keyID: id, aead: aead, limits: lim.effective()}, nil
}
