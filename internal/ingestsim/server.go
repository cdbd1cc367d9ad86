// Package ingestsim is a faithful stand-in for the LogFlux Ingestion API that decrypts and records what it accepts and injects faults on demand.
//
// It serves the published endpoints (discovery, /health, /version and /info,
// the two handshake steps and multipart /v1/ingest), holds the RSA private
// key the customer would hold, and so can unwrap session keys and decrypt
// every entry, which the real service never can. Everything accepted is kept
// in memory (Accepted) and appended to an NDJSON file (Options.Out).
//
// Where the published API leaves a choice open, the simulator decides:
//
//   - /v1/ingest answers 202 when every part went in; 200 with
//     data.failures when some did not, or when all failed for the server's
//     own (injected, transient) reasons; 400 invalid_entries, listing the
//     failures under data, when none went in and some part was invalid.
//   - A request naming an unknown or expired X-LF-Key-ID anywhere is 401 as
//     a whole; one holding an entry of a category over quota is 507 as a
//     whole; too many parts, a part over max_payload_size or a body over
//     max_request_size is 413 as a whole. Nothing of such a request is kept.
//   - X-LF-Payload-Type 1 is AES-256-GCM over gzip, 2 AES-256-GCM over the
//     bare JSON (this project's label), 3 gzip alone for entry type 7. A part
//     labelled 1 or 3 that holds bare JSON (the official v3 Go SDK with
//     compression off) is accepted as that JSON, counted in
//     Stats.Mislabelled, marked in its Record and logged (rate-limited).
//   - Payloads must be schema v2.0 objects whose type matches the part's
//     entry type, within the attribute limits, with the field that names an
//     entry of their type (log message, metric name, trace name or
//     operation, event event, audit action); unknown fields are allowed.
//   - The body must end with the multipart close delimiter.
package ingestsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is one accepted entry.
type Record struct {
	Payload     json.RawMessage // the decrypted, decompressed v2.0 payload, compacted
	EntryType   int             // X-LF-Entry-Type
	PayloadType int             // X-LF-Payload-Type
	KeyID       string          // X-LF-Key-ID
	Nonce       string          // X-LF-Nonce
	Timestamp   string          // X-LF-Timestamp
	RequestID   string          // the request that carried it
	Index       int             // its part index in that request
	// Mislabelled: the part was labelled gzip (payload type 1 or 3) but
	// held plain JSON, as the official v3 Go SDK sends with compression off.
	Mislabelled bool
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	// Requests counts answered requests by endpoint ("/v1/ingest",
	// "/v1/handshake/init", …; "other" for unknown paths) and status.
	Requests map[string]map[int]int64
	// Dropped counts connections closed without an answer; DroppedAccepted,
	// the entries accepted by requests whose answer was dropped (the only
	// entries a correct client may send twice).
	Dropped, DroppedAccepted int64
	// Accepted and Failed count entries accepted, and parts reported failed.
	Accepted, Failed int64
	// Sessions counts completed handshakes; Expired, sessions ended by
	// ExpireSessions or Faults.SessionRequests.
	Sessions, Expired int64
	// Mislabelled counts accepted entries labelled gzip that were plain
	// JSON (see Record.Mislabelled).
	Mislabelled int64
}

// Ingest returns how many /v1/ingest requests were answered with status.
func (s Stats) Ingest(status int) int64 { return s.Requests["/v1/ingest"][status] }

// Server is the simulator. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	limits  Limits
	priv    *rsa.PrivateKey
	pubPEM  string
	log     *slog.Logger
	mux     *http.ServeMux
	started time.Time

	mu       sync.Mutex
	faults   Faults
	rng      *mrand.Rand
	sessions map[string]*session
	windows  map[string]*window
	stats    Stats
	accepted []Record
	// The mislabelled-gzip warning: when it was last logged, and the
	// entries since then.
	mislabelLogged   time.Time
	mislabelUnlogged int64
	out              *os.File

	srvMu    sync.Mutex
	srv      *http.Server
	ln       net.Listener
	serving  sync.WaitGroup
	shutdown bool
}

type session struct {
	apiKey   string
	key      []byte
	requests int
}

type window struct {
	start time.Time
	n     int
}

// New loads or generates the RSA key, opens the Out file and returns a
// server that is not yet listening (see Handler, Start and Serve).
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Retain == 0 {
		opts.Retain = DefaultRetain
	}
	for _, k := range opts.APIKeys {
		if _, err := parseAPIKey(k); err != nil {
			return nil, fmt.Errorf("ingestsim: api key %q: %w", redact(k), err)
		}
	}
	priv := opts.PrivateKey
	var err error
	switch {
	case priv != nil:
	case opts.KeyFile != "":
		if priv, err = loadKey(opts.KeyFile); err != nil {
			return nil, fmt.Errorf("ingestsim: %w", err)
		}
	default:
		if priv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("ingestsim: generate key: %w", err)
		}
	}
	if priv.N.BitLen() < 2048 {
		return nil, fmt.Errorf("ingestsim: RSA key has %d bits; the API requires 2048 or more", priv.N.BitLen())
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("ingestsim: encode public key: %w", err)
	}
	s := &Server{
		opts:     opts,
		limits:   opts.Limits.withDefaults(),
		priv:     priv,
		pubPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		log:      opts.Logger,
		started:  time.Now().UTC(),
		faults:   opts.Faults.clone(),
		rng:      mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		sessions: map[string]*session{},
		windows:  map[string]*window{},
		stats:    Stats{Requests: map[string]map[int]int64{}},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.Out != "" {
		if s.out, err = os.OpenFile(opts.Out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return nil, fmt.Errorf("ingestsim: open output: %w", err)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/{$}", s.handleDiscovery)
	s.mux.HandleFunc("/health", s.handleHealth)
	s.mux.HandleFunc("/version", s.handleVersion)
	s.mux.HandleFunc("/info", s.handleVersion)
	s.mux.HandleFunc("/v1/handshake/init", s.handleInit)
	s.mux.HandleFunc("/v1/handshake/complete", s.handleComplete)
	s.mux.HandleFunc("/v1/ingest", s.handleIngest)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: " + r.URL.Path})
	})
	return s, nil
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("key file %s: no RSA PRIVATE KEY or PRIVATE KEY block", path)
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("key file %s: %w", path, err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("key file %s: %w", path, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("key file %s: %T is not an RSA key", path, k)
			}
			return rk, nil
		}
	}
}

// PublicKeyPEM returns the public key the handshake hands out.
func (s *Server) PublicKeyPEM() string { return s.pubPEM }

// Limits returns the limits in force (Options.Limits with defaults filled in).
func (s *Server) Limits() Limits { return s.limits }

// Handler returns the simulator's HTTP handler, for use with httptest or a
// server of the caller's own.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on Options.Listen and serves in the background until
// Shutdown. It returns once the listener is open.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("ingestsim: listen: %w", err)
	}
	srv, err := s.server(ln)
	if err != nil {
		ln.Close()
		return err
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ingestsim: serve", "error", err)
		}
	}()
	return nil
}

// Serve serves on ln until Shutdown and then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	srv, err := s.server(ln)
	if err != nil {
		return err
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ingestsim: serve: %w", err)
	}
	return nil
}

func (s *Server) server(ln net.Listener) (*http.Server, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.shutdown {
		return nil, errors.New("ingestsim: server is shut down")
	}
	if s.srv == nil {
		s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	if s.ln == nil {
		s.ln = ln
	}
	return s.srv, nil
}

// Addr returns the address of the first listener served, or nil.
func (s *Server) Addr() net.Addr {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns http://<address> of the first listener served, or "".
func (s *Server) URL() string {
	if a := s.Addr(); a != nil {
		return "http://" + a.String()
	}
	return ""
}

// Shutdown stops serving, waiting for requests in flight until ctx ends, and
// closes the Out file. It is idempotent and safe before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.srvMu.Lock()
	srv := s.srv
	s.shutdown = true
	s.srvMu.Unlock()
	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ingestsim: shutdown: %w", err))
			srv.Close()
		}
	}
	s.serving.Wait()
	s.mu.Lock()
	if s.out != nil {
		if err := s.out.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ingestsim: close output: %w", err))
		}
		s.out = nil
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}

// SetFaults replaces the faults injected from now on.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f.clone()
	s.mu.Unlock()
}

// Faults returns the faults currently injected.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.clone()
}

// ExpireSessions forgets every session, so that the next ingest request of
// each client is answered 401, and returns how many there were.
func (s *Server) ExpireSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	clear(s.sessions)
	s.stats.Expired += int64(n)
	return n
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = make(map[string]map[int]int64, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		st.Requests[k] = maps.Clone(v)
	}
	return st
}

// Accepted returns the retained accepted records, oldest first.
func (s *Server) Accepted() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

// endpoints are the paths counted under their own name in Stats.
var endpoints = []string{"/", "/health", "/version", "/info", "/v1/handshake/init", "/v1/handshake/complete", "/v1/ingest"}

// serveHTTP injects the request-level faults, then routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := "other"
	if slices.Contains(endpoints, r.URL.Path) {
		endpoint = r.URL.Path
	}
	rec := &recorder{ResponseWriter: w, s: s, endpoint: endpoint}
	s.mu.Lock()
	w.Header().Set("X-Request-ID", s.newIDLocked("req_"))
	f := s.faults
	var drop bool
	var status int
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		drop = s.chanceLocked(f.DropRate)
		if !drop {
			status = s.pickStatusLocked(f.StatusRates)
		}
	}
	s.mu.Unlock()
	defer func() {
		if rec.status == 0 && !rec.dropped {
			rec.WriteHeader(http.StatusOK)
		}
		s.log.Debug("ingestsim: request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "dropped", rec.dropped)
	}()
	if f.Latency > 0 && strings.HasPrefix(r.URL.Path, "/v1/") {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case drop:
		dropConn(rec)
	case status != 0:
		s.writeError(rec, injectedError(status, f.RetryAfter))
	default:
		s.mux.ServeHTTP(rec, r)
	}
}

func injectedError(status int, retryAfter time.Duration) *apiError {
	e := &apiError{status: status, code: "injected_fault", message: "injected " + http.StatusText(status)}
	switch status {
	case http.StatusTooManyRequests:
		e.code, e.message = "rate_limit_exceeded", "rate limit exceeded"
	case http.StatusUnauthorized:
		e.code, e.message = "unauthorized", "session expired or key rejected"
	case http.StatusInternalServerError:
		e.code = "internal_error"
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.code = "service_unavailable"
	case http.StatusInsufficientStorage:
		e.code, e.message = "quota_exceeded", "quota exceeded"
	}
	if status == http.StatusTooManyRequests || status == http.StatusInsufficientStorage {
		e.retryAfter = ceilSeconds(retryAfter)
	}
	return e
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// chanceLocked draws true with probability p.
func (s *Server) chanceLocked(p float64) bool {
	return p > 0 && s.rng.Float64() < p
}

// pickStatusLocked draws one status from rates, or 0 for none.
func (s *Server) pickStatusLocked(rates map[int]float64) int {
	if len(rates) == 0 {
		return 0
	}
	u := s.rng.Float64()
	sum := 0.0
	for _, code := range slices.Sorted(maps.Keys(rates)) {
		if rates[code] <= 0 {
			continue
		}
		sum += rates[code]
		if u < sum {
			return code
		}
	}
	return 0
}

// newIDLocked returns prefix and 16 random hex digits.
func (s *Server) newIDLocked(prefix string) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return prefix + hex.EncodeToString(b[:])
}

// newUUIDLocked returns a random (version 4) UUID from the seeded generator.
func (s *Server) newUUIDLocked() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// recorder counts the status of each answer, or the drop, before the
// client can see it, so that Stats read after an answer includes it.
type recorder struct {
	http.ResponseWriter
	s        *Server
	endpoint string
	status   int
	dropped  bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && !r.dropped {
		r.status = code
		r.s.mu.Lock()
		m := r.s.stats.Requests[r.endpoint]
		if m == nil {
			m = map[int]int64{}
			r.s.stats.Requests[r.endpoint] = m
		}
		m[code]++
		r.s.mu.Unlock()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// dropConn closes the client's connection without an answer.
func dropConn(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.dropped = true
		rec.s.mu.Lock()
		rec.s.stats.Dropped++
		rec.s.mu.Unlock()
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 or a test recorder: abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // reset, as a crashed peer would
	}
	conn.Close()
}

// apiError is an error answer in the documented shape.
type apiError struct {
	status     int
	code       string
	message    string
	details    string
	retryAfter int // seconds; also sent as Retry-After
	data       any // batch results, for a 400 where every part failed
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Details    string `json:"details,omitempty"`
		RetryAfter int    `json:"retry_after,omitempty"`
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.retryAfter))
	}
	v := struct {
		Status    string `json:"status"`
		Error     body   `json:"error"`
		RequestID string `json:"request_id"`
		Data      any    `json:"data,omitempty"`
	}{"error", body{e.code, e.message, e.details, e.retryAfter}, w.Header().Get("X-Request-ID"), e.data}
	s.writeJSON(w, e.status, v)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("ingestsim: encode answer", "error", err)
		status, b = http.StatusInternalServerError, []byte(`{"status":"error","error":{"code":"internal_error","message":"encode answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// success writes {"status":"success","message":…,"request_id":…,"data":data}.
func (s *Server) success(w http.ResponseWriter, status int, message string, data any) {
	s.writeJSON(w, status, struct {
		Status    string `json:"status"`
		Message   string `json:"message,omitempty"`
		RequestID string `json:"request_id"`
		Data      any    `json:"data,omitempty"`
	}{"success", message, w.Header().Get("X-Request-ID"), data})
}

func (s *Server) allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	s.writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: r.Method + " is not allowed here; use " + method})
	return false
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethod(w, r, http.MethodGet) {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host
	s.writeJSON(w, http.StatusOK, map[string]any{
		"version": "1.1",
		"region":  s.opts.Region,
		"endpoints": map[string]string{
			"backend_url":   base,
			"ingestor_url":  base,
			"stream_url":    base,
			"dashboard_url": base,
		},
		"updated_at": s.started.Format(time.RFC3339),
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethod(w, r, http.MethodGet) {
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "OK")
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethod(w, r, http.MethodGet) {
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"api_version":         "v1",
		"service":             "logflux-ingestor",
		"supported_versions":  []string{"v1"},
		"deprecated_versions": []string{},
	})
}
