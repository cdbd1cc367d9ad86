// Package remote is what every output that sends over the network shares: batch and retry settings, TLS, secrets, compression, and how an HTTP answer is classified.
package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
)

// Batch bounds what one request carries.
type Batch struct {
	// MaxEntries is the most entries a request carries.
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes is the most bytes of records a request carries (the encoded
	// body may be somewhat larger or, compressed, much smaller).
	MaxBytes component.ByteSize `yaml:"max_bytes"`
	// Timeout is how long a batch that is not full waits for more entries
	// (0: send what is there at once).
	Timeout time.Duration `yaml:"timeout"`
}

// Retry shapes the delays between attempts: exponential from Initial,
// capped at Max, with full jitter. A Retry-After answer waits at least
// that long. There is no time limit: entries stay queued until delivered
// or refused for good.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
}

// TLS configures the client side of TLS.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Common are the keys every network output has. Embed it inline:
//
//	type Config struct {
//		remote.Common `yaml:",inline"`
//		...
//	}
type Common struct {
	Batch   Batch         `yaml:"batch"`
	Retry   Retry         `yaml:"retry"`
	TLS     TLS           `yaml:"tls"`
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults of Common.
const (
	DefaultMaxEntries   = 1000
	DefaultMaxBytes     = 2 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// DefaultCommon returns the defaults.
func DefaultCommon() Common {
	return Common{
		Batch:   Batch{MaxEntries: DefaultMaxEntries, MaxBytes: DefaultMaxBytes},
		Retry:   Retry{Initial: DefaultRetryInitial, Max: DefaultRetryMax},
		Timeout: DefaultTimeout,
	}
}

// Validate adds the problems of the common keys to ps.
func (c *Common) Validate(ps *component.Problems) {
	if c.Batch.MaxEntries < 1 {
		ps.Add("batch.max_entries", "must be at least 1")
	}
	if c.Batch.MaxBytes < 1024 {
		ps.Add("batch.max_bytes", "must be at least 1KiB")
	}
	if c.Batch.Timeout < 0 {
		ps.Add("batch.timeout", "must not be negative")
	}
	if c.Retry.Initial <= 0 {
		ps.Add("retry.initial", "must be positive (e.g. 100ms)")
	}
	if c.Retry.Max < c.Retry.Initial {
		ps.Add("retry.max", "must be at least retry.initial")
	}
	if c.Timeout <= 0 {
		ps.Add("timeout", "must be positive (e.g. 30s)")
	}
	c.TLS.validate(ps)
}

func (t *TLS) validate(ps *component.Problems) {
	for _, f := range []struct{ key, path string }{{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			ps.Add(f.key, "cannot read %s: %s", f.path, plainErr(err))
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		ps.Add("tls", "cert_file and key_file go together")
	}
}

// Delivery is what the dispatcher takes from the common keys.
func (c *Common) Delivery() output.Delivery {
	return output.Delivery{
		MaxRecords: c.Batch.MaxEntries,
		MaxBytes:   int(c.Batch.MaxBytes),
		Linger:     c.Batch.Timeout,
		Backoff:    backoff.Backoff{Base: c.Retry.Initial, Max: c.Retry.Max},
	}
}

// Config builds the tls.Config (nil when nothing is set, for plain
// defaults).
func (t *TLS) Config() (*tls.Config, error) {
	if *t == (TLS{}) {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// HTTPClient builds a client with the output's TLS and timeout.
func (c *Common) HTTPClient() (*http.Client, error) {
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: tr, Timeout: c.Timeout}, nil
}

// Secret reads a secret given inline or in a file (the file wins when
// both are set; Validate should refuse that). Surrounding white space in
// a file is ignored.
func Secret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// CheckSecret adds a problem when both forms of a secret are set or its
// file cannot be read.
func CheckSecret(ps *component.Problems, key, value, file string) {
	if value != "" && file != "" {
		ps.Add(key, "set %s or %s_file, not both", key, key)
		return
	}
	if file != "" {
		if _, err := Secret("", file); err != nil {
			ps.Add(key+"_file", "cannot read %s: %s", file, plainErr(err))
		}
	}
}

func plainErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Compressions are the compression names HTTP outputs take.
var Compressions = []string{"none", "gzip", "zstd"}

// CheckCompression adds a problem when name is not one of allowed.
func CheckCompression(ps *component.Problems, name string, allowed []string) {
	for _, a := range allowed {
		if name == a {
			return
		}
	}
	ps.Add("compression", "%q is not one of %s", name, strings.Join(allowed, ", "))
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	return e
})

// Compress appends body compressed with name ("", "none", "gzip",
// "zstd") to dst and returns it with its Content-Encoding ("" for none).
func Compress(dst, body []byte, name string) ([]byte, string) {
	switch name {
	case "gzip":
		buf := bytes.NewBuffer(dst[:0])
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(buf)
		w.Write(body)
		w.Close()
		gzipWriters.Put(w)
		return buf.Bytes(), "gzip"
	case "zstd":
		return zstdEncoder().EncodeAll(body, dst[:0]), "zstd"
	}
	return append(dst[:0], body...), ""
}

// Answer is an HTTP response read whole (its body capped).
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// MaxAnswerBytes caps how much of a response body is read.
const MaxAnswerBytes = 4 << 20

// Do sends req and reads the answer. A transport failure comes back as a
// retryable error.
func Do(c *http.Client, req *http.Request) (*Answer, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, output.Retryable(err, 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return nil, output.Retryable(fmt.Errorf("reading the answer: %w", err), 0)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status  int
	Message string // the start of the body, trimmed
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Classify turns a non-2xx answer into an output error: retryable (with
// the answer's Retry-After) when retryable says so, permanent otherwise.
// It returns nil for 2xx.
func (a *Answer) Classify(retryable func(status int) bool) error {
	if a.Status >= 200 && a.Status < 300 {
		return nil
	}
	err := &StatusError{Status: a.Status, Message: snippet(a.Body)}
	if retryable(a.Status) {
		return output.Retryable(err, RetryAfter(a.Header.Get("Retry-After"), time.Now()))
	}
	return output.Permanent(err)
}

// Throttled reports a 429: the backend asks the agent to slow down (what
// the failure metrics count as "throttled").
func (e *StatusError) Throttled() bool { return e.Status == http.StatusTooManyRequests }

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// OTLPRetryable is the OTLP/HTTP rule: 429, 502, 503, 504.
func OTLPRetryable(status int) bool {
	return status == 429 || status == 502 || status == 503 || status == 504
}

// HTTPRetryable is the generic rule: 408, 429 and 5xx except 501.
func HTTPRetryable(status int) bool {
	return status == 408 || status == 429 || (status >= 500 && status != 501)
}

// RetryAfter reads a Retry-After value (delay-seconds or an HTTP date)
// as a delay from now; zero when absent or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Post is one HTTP request of an output.
type Post struct {
	Method      string // POST when empty
	URL         string
	ContentType string
	Compression string            // "", none, gzip, zstd
	Headers     map[string]string // set on every request
	Auth        func(*http.Request)
	Retryable   func(status int) bool
}

// Send compresses body into *zbuf (reused between calls), posts it and
// returns the answer, or a retryable error for a transport failure.
func (p *Post) Send(ctx context.Context, c *http.Client, zbuf *[]byte, body []byte) (*Answer, error) {
	var enc string
	*zbuf, enc = Compress(*zbuf, body, p.Compression)
	method := p.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL, bytes.NewReader(*zbuf))
	if err != nil {
		return nil, output.Permanent(err)
	}
	req.Header.Set("Content-Type", p.ContentType)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	req.Header.Set("User-Agent", "logflux-agent")
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if p.Auth != nil {
		p.Auth(req)
	}
	return Do(c, req)
}

// Do posts body and classifies the answer (nil for 2xx).
func (p *Post) Do(ctx context.Context, c *http.Client, zbuf *[]byte, body []byte) (*Answer, error) {
	ans, err := p.Send(ctx, c, zbuf, body)
	if err != nil {
		return nil, err
	}
	return ans, ans.Classify(p.Retryable)
}

// BasicAuth is HTTP basic authentication, the password inline, from the
// environment or from a file. Embed it inline.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Validate adds the problems of the basic-auth keys to ps.
func (b *BasicAuth) Validate(ps *component.Problems) {
	CheckSecret(ps, "password", b.Password, b.PasswordFile)
	if b.Username == "" && (b.Password != "" || b.PasswordFile != "") {
		ps.Add("username", "is required with a password")
	}
}

// Auth returns what sets the Authorization header, or nil when no
// username is configured.
func (b *BasicAuth) Auth() (func(*http.Request), error) {
	if b.Username == "" {
		return nil, nil
	}
	pw, err := Secret(b.Password, b.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	user := b.Username
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }, nil
}
