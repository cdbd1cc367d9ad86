// Package forward sends the agent's entries to the LogFlux Ingestion API, encrypted end to end, as the "logflux" output.
//
// A session is discovery (unless an endpoint is configured), then the RSA
// handshake that hands the server a fresh AES-256 key it cannot read. Each
// entry is mapped to a schema v2.0 payload (docs/logflux-mapping.md),
// gzipped, sealed with AES-256-GCM under a fresh nonce and sent as one part
// of a multipart/mixed POST /v1/ingest.
//
// Delivery is at least once, and Write keeps the dispatcher's contract
// (nil: all delivered; Retryable: send the same records again; Permanent:
// give them up) while a batch may fare differently per entry:
//
//   - Entries the server accepted are remembered by their id until the
//     batch is done, so a retried batch never resends them.
//   - Requests never mix quota categories, so a 507 names one category,
//     which is then held back while the others go on.
//   - A batch is done when each of its entries is delivered or refused for
//     good; if any was refused, Write returns Permanent with a
//     *RejectedError saying which and why (the dispatcher dead-letters the
//     whole batch, delivered entries included: nothing is lost, some
//     dead-lettered entries may also have arrived).
package logflux

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/output"
)

// ErrClosed is the (retryable) error of Write after Close.
var ErrClosed = errors.New("logflux output closed")

// Counters are an output's running totals, safe to read at any time.
type Counters struct {
	Requests   atomic.Int64 // ingest requests sent
	Entries    atomic.Int64 // entries the server accepted
	Refused    atomic.Int64 // entries given up as permanent
	Handshakes atomic.Int64 // sessions established
	Failures   atomic.Int64 // failed requests, handshakes included
}

// Output is the logflux output.
type Output struct {
	cfg          Config
	apiKey       string
	discoveryURL string
	client       *http.Client
	ownClient    bool
	log          *slog.Logger
	closed       atomic.Bool

	// Counters are updated as the output works.
	Counters Counters

	mu        sync.Mutex // held by Write
	ingestURL string
	sess      *session
	paused    map[category]time.Time
	batch     batchState
	comp      compressor
}

var _ output.Output = (*Output)(nil)

// category is a quota category of the Ingestion API.
type category string

const (
	catEvents category = "events" // entry types 1, 2, 4
	catTraces category = "traces" // entry type 3
	catAudit  category = "audit"  // entry type 5
)

var categories = []category{catEvents, catTraces, catAudit}

func categoryOf(entryType int) category {
	switch entryType {
	case 3, 6, 7:
		return catTraces
	case 5:
		return catAudit
	default:
		return catEvents
	}
}

// New checks cfg, reads the key and returns the output. It makes no
// request: the session is set up by the first Write.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("logflux output: %w", err)
	}
	cfg = cfg.withDefaults()
	key, err := cfg.readKey()
	if err != nil {
		return nil, fmt.Errorf("logflux output: %w", err)
	}
	region, _ := ParseAPIKey(key)
	o := &Output{
		cfg:          cfg,
		apiKey:       key,
		discoveryURL: cfg.DiscoveryURL,
		client:       cfg.HTTPClient,
		log:          cfg.Logger, // the agent gives it with the output's name
		ingestURL:    strings.TrimRight(cfg.Endpoint, "/"),
		paused:       map[category]time.Time{},
	}
	if o.discoveryURL == "" {
		o.discoveryURL = "https://discover." + region + ".logflux.io"
	}
	if o.client == nil {
		o.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		o.ownClient = true
	}
	if !cfg.gzip() {
		o.log.Warn("logflux: gzip is off; parts are labelled payload type 2, which the published API does not define")
	}
	return o, nil
}

// Name returns the configured name ("logflux" by default).
func (o *Output) Name() string { return o.cfg.Name }

// Close releases idle connections. It is idempotent; Write fails after it.
func (o *Output) Close(context.Context) error {
	if o.closed.Swap(true) {
		return nil
	}
	if o.ownClient {
		o.client.CloseIdleConnections()
	}
	return nil
}

// item is one entry on its way.
type item struct {
	key       string
	entryType int
	timestamp string
	plain     []byte // the payload, gzipped if so configured
}

// batchState follows the entries of the batch in flight across Writes,
// until the batch is done (Write returns nil or Permanent).
type batchState struct {
	delivered map[string]bool  // accepted by the server
	refused   map[string]error // given up, with the reason
	partFails map[string]int   // times reported failed in a success answer
	// prepared caches what Write made of each record, so that a retried
	// batch is not mapped and compressed again. It is keyed by a hash of
	// the record and holds a copy of it to compare.
	prepared map[uint64]*prepared
	seed     maphash.Seed
}

// prepared is a record and what it maps to.
type prepared struct {
	rec  []byte
	key  string
	item *item // nil if err
	err  error
}

func (b *batchState) reset() {
	b.delivered = map[string]bool{}
	b.refused = map[string]error{}
	b.partFails = map[string]int{}
	b.prepared = map[uint64]*prepared{}
	b.seed = maphash.MakeSeed()
}

// done reports whether the entry needs no more sending.
func (b *batchState) done(key string) bool {
	_, refused := b.refused[key]
	return refused || b.delivered[key]
}

// keep forgets everything about entries not in keys, and the prepared
// records not in hashes.
func (b *batchState) keep(keys map[string]bool, hashes map[uint64]bool) {
	maps.DeleteFunc(b.delivered, func(k string, _ bool) bool { return !keys[k] })
	maps.DeleteFunc(b.refused, func(k string, _ error) bool { return !keys[k] })
	maps.DeleteFunc(b.partFails, func(k string, _ int) bool { return !keys[k] })
	maps.DeleteFunc(b.prepared, func(h uint64, _ *prepared) bool { return !hashes[h] })
}

// prepare maps and compresses a record, or finds it done before.
func (o *Output) prepare(rec []byte, now time.Time) (*prepared, uint64) {
	h := maphash.Bytes(o.batch.seed, rec)
	if p := o.batch.prepared[h]; p != nil && bytes.Equal(p.rec, rec) {
		return p, h
	}
	m, err := mapRecord(rec, now)
	if err == nil && o.cfg.gzip() {
		m.json, err = o.comp.compress(m.json)
	}
	p := &prepared{rec: bytes.Clone(rec), key: m.key, err: err}
	if err == nil {
		p.item = &item{key: m.key, entryType: m.entryType, timestamp: m.timestamp, plain: m.json}
	}
	o.batch.prepared[h] = p
	return p, h
}

// Write delivers records; see the package documentation for how it answers.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed.Load() {
		return output.Retryable(ErrClosed, 0)
	}
	if o.batch.delivered == nil {
		o.batch.reset()
	}
	now := o.cfg.Clock()
	delivered0 := o.Counters.Entries.Load() // only Write adds to it, under o.mu
	keys := make([]string, len(records))
	inBatch := make(map[string]bool, len(records))
	hashes := make(map[uint64]bool, len(records))
	byCat := map[category][]*item{}
	for i, rec := range records {
		p, h := o.prepare(rec, now)
		hashes[h] = true
		// A key seen before in the batch (a repeated id, or identical
		// records without one) is told apart by its occurrence, which
		// stays the same when the batch is retried.
		key := p.key
		for n := 2; inBatch[key]; n++ {
			key = p.key + "#" + strconv.Itoa(n)
		}
		keys[i] = key
		inBatch[key] = true
		switch {
		case o.batch.done(key):
		case p.err != nil:
			o.refuse(key, p.err)
		default:
			it := p.item
			if key != p.key {
				c := *it
				c.key = key
				it = &c
			}
			cat := categoryOf(it.entryType)
			byCat[cat] = append(byCat[cat], it)
		}
	}
	o.batch.keep(inBatch, hashes)

	var errs []error
	var after time.Duration
	for _, cat := range categories {
		items := byCat[cat]
		if len(items) == 0 {
			continue
		}
		if until, ok := o.paused[cat]; ok {
			if now.Before(until) {
				errs = append(errs, &quotaError{cat: cat, until: until})
				after = minAfter(after, until.Sub(now), len(errs) == 1)
				continue
			}
			delete(o.paused, cat)
			o.log.Info("logflux: quota pause over; sending again", "category", cat)
		}
		err := o.sendCategory(ctx, cat, items)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		after = minAfter(after, o.retryDelay(err), len(errs) == 1)
		var q *quotaError
		var pe *partialError
		if !errors.As(err, &q) && !errors.As(err, &pe) {
			break // the service is failing: the other categories wait too
		}
	}
	if len(errs) > 0 {
		if ctx.Err() != nil {
			return output.Retryable(fmt.Errorf("logflux: %w", ctx.Err()), 0)
		}
		// The dispatcher logs the failure (once) and counts what this
		// Write delivered before it.
		return &output.RetryableError{Err: errors.Join(errs...), After: after, Delivered: int(o.Counters.Entries.Load() - delivered0)}
	}

	var rejected []Rejection
	for i, k := range keys {
		if reason, ok := o.batch.refused[k]; ok {
			rejected = append(rejected, Rejection{Index: i, Key: k, Reason: reason})
		}
	}
	o.batch.reset()
	if len(rejected) > 0 {
		err := &RejectedError{Total: len(records), Rejected: rejected}
		o.log.Warn("logflux: entries refused for good", "refused", len(rejected), "of", len(records), "first", rejected[0].Reason)
		return output.Permanent(err)
	}
	return nil
}

// minAfter combines the delays of several failures: the batch is retried
// as soon as the first of them may be over (zero: the dispatcher's backoff).
func minAfter(cur, next time.Duration, first bool) time.Duration {
	if first {
		return next
	}
	return min(cur, next)
}

// retryDelay is the delay a failure asks of the dispatcher.
func (o *Output) retryDelay(err error) time.Duration {
	var q *quotaError
	var se *StatusError
	switch {
	case errors.As(err, &q):
		return max(q.until.Sub(o.cfg.Clock()), 0)
	case isAuthFailure(err):
		return o.cfg.AuthRetryDelay
	case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
		if se.RetryAfter > 0 {
			return se.RetryAfter
		}
		return DefaultRetryAfter
	}
	return 0
}

// refuse gives an entry up for good.
func (o *Output) refuse(key string, reason error) {
	o.batch.refused[key] = reason
	o.Counters.Refused.Add(1)
}

// sendCategory sends the items of one category until each is delivered or
// refused, or a failure stops it.
func (o *Output) sendCategory(ctx context.Context, cat category, items []*item) error {
	var work [][]*item
	var sess *session
	for {
		if sess == nil || o.sess != sess {
			var err error
			if sess, err = o.session(ctx); err != nil {
				return err
			}
			work = o.pack(items, sess)
		}
		if len(work) == 0 {
			break
		}
		chunk := work[0]
		a, err := o.post(ctx, sess, chunk)
		if err != nil {
			o.Counters.Failures.Add(1)
			return err
		}
		if a.ok() {
			sess.used = true
			o.settle(chunk, a)
			work = work[1:]
			continue
		}
		o.Counters.Failures.Add(1)
		se := a.statusError("ingest")
		switch {
		case se.Status == http.StatusUnauthorized && sess.used:
			// The session expired: one new handshake, and the rest of
			// the category is packed again for it.
			o.sess = nil
		case se.Status == http.StatusUnauthorized:
			o.sess = nil
			return &authError{err: se}
		case se.Status == http.StatusRequestEntityTooLarge && len(chunk) > 1:
			h := len(chunk) / 2
			work = append([][]*item{chunk[:h], chunk[h:]}, work[1:]...)
		case se.Status == http.StatusRequestEntityTooLarge, se.Status == http.StatusBadRequest:
			for _, it := range chunk {
				o.refuse(it.key, se)
			}
			work = work[1:]
		case se.Status == http.StatusInsufficientStorage:
			pause := se.RetryAfter
			if pause <= 0 {
				pause = o.cfg.QuotaPause
			}
			until := o.cfg.Clock().Add(pause)
			o.paused[cat] = until
			return &quotaError{cat: cat, until: until, err: se}
		default:
			return se
		}
	}
	for _, it := range items {
		if !o.batch.done(it.key) {
			return &partialError{}
		}
	}
	return nil
}

// session returns the current session, discovering the ingestor and
// shaking hands first if there is none.
func (o *Output) session(ctx context.Context) (*session, error) {
	if o.sess != nil {
		return o.sess, nil
	}
	if o.ingestURL == "" {
		u, err := o.discover(ctx)
		if err != nil {
			o.Counters.Failures.Add(1)
			return nil, err
		}
		o.ingestURL = u
		o.log.Info("logflux: discovered the ingestor", "url", u)
	}
	s, err := o.handshake(ctx, o.ingestURL)
	if err != nil {
		o.Counters.Failures.Add(1)
		var se *StatusError
		if errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden) {
			return nil, &authError{err: err}
		}
		if !errors.As(err, &se) && o.cfg.Endpoint == "" && ctx.Err() == nil {
			o.ingestURL = "" // unreachable: discover again, the ingestor may have moved
		}
		return nil, err
	}
	if o.Counters.Handshakes.Add(1) == 1 {
		o.log.Info("logflux: session established", "ingestor", o.ingestURL,
			"max_batch_size", s.limits.batch, "max_payload_size", s.limits.payload, "max_request_size", s.limits.request)
	} else {
		o.log.Debug("logflux: new session", "key_id", s.keyID)
	}
	o.sess = s
	return s, nil
}

// pack splits the items not yet done into requests within the session's
// limits, refusing an entry too large to send at all.
func (o *Output) pack(items []*item, s *session) [][]*item {
	var chunks [][]*item
	var cur []*item
	sum := 0
	for _, it := range items {
		if o.batch.done(it.key) {
			continue
		}
		ctLen := len(it.plain) + tagSize
		sz := partSize(boundaryLen, o.part(s, it, nil).header(), ctLen)
		switch {
		case ctLen > s.limits.payload:
			o.refuse(it.key, fmt.Errorf("entry is %d bytes encrypted; the server takes at most %d", ctLen, s.limits.payload))
			continue
		case bodySize(boundaryLen, 1, sz) > s.limits.request:
			o.refuse(it.key, fmt.Errorf("entry needs a %d-byte request; the server takes at most %d", bodySize(boundaryLen, 1, sz), s.limits.request))
			continue
		}
		if len(cur) > 0 && (len(cur) == s.limits.batch || bodySize(boundaryLen, len(cur)+1, sum+sz) > s.limits.request) {
			chunks = append(chunks, cur)
			cur, sum = nil, 0
		}
		cur = append(cur, it)
		sum += sz
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// part returns the part of an item; ct nil leaves the body out (for sizing).
func (o *Output) part(s *session, it *item, ct []byte) *part {
	pt := payloadAESGzip
	if !o.cfg.gzip() {
		pt = payloadAES
	}
	return &part{entryType: it.entryType, payloadType: pt, keyID: s.keyID, nonce: make([]byte, nonceSize), timestamp: it.timestamp, body: ct}
}

// post seals a chunk under the session and sends it.
func (o *Output) post(ctx context.Context, s *session, chunk []*item) (*answer, error) {
	parts := make([]part, len(chunk))
	for i, it := range chunk {
		p := o.part(s, it, nil)
		p.nonce, p.body = seal(s.aead, it.plain)
		parts[i] = *p
	}
	var buf bytes.Buffer
	ct, err := encodeParts(&buf, newBoundary(), parts)
	if err != nil {
		return nil, fmt.Errorf("logflux ingest: %w", err)
	}
	o.Counters.Requests.Add(1)
	return o.do(ctx, "ingest", http.MethodPost, o.ingestURL+"/v1/ingest", ct, buf.Bytes(), true)
}

// settle records a success answer: the entries it lists as failed are
// tried again, up to PartRetries times; the others are delivered.
func (o *Output) settle(chunk []*item, a *answer) {
	var res struct {
		Failed   int `json:"failed"`
		Failures []struct {
			Index int    `json:"index"`
			Error string `json:"error"`
		} `json:"failures"`
	}
	json.Unmarshal(unwrapData(a.body), &res) // a body without data means every entry went in
	failed := map[int]string{}
	for _, f := range res.Failures {
		if f.Index >= 0 && f.Index < len(chunk) {
			failed[f.Index] = f.Error
		}
	}
	if res.Failed > 0 && len(failed) == 0 {
		// Failures counted but not named: none of them can be known
		// delivered, so all are sent again (duplicates are allowed,
		// losses are not).
		for i := range chunk {
			failed[i] = fmt.Sprintf("%d of %d entries failed, unnamed", res.Failed, len(chunk))
		}
	}
	for i, it := range chunk {
		reason, bad := failed[i]
		if !bad {
			o.batch.delivered[it.key] = true
			o.Counters.Entries.Add(1)
			continue
		}
		o.batch.partFails[it.key]++
		if n := o.batch.partFails[it.key]; n >= o.cfg.PartRetries {
			o.refuse(it.key, fmt.Errorf("the server reported the entry failed %d times; last: %s", n, reason))
		}
	}
}

// Rejection is one entry of a batch given up for good.
type Rejection struct {
	Index  int    // position in the records passed to Write
	Key    string // the entry's id (or sha256: of the record if it has none)
	Reason error
}

// RejectedError lists the entries of a batch given up for good. The other
// entries of the batch were delivered.
type RejectedError struct {
	Total    int
	Rejected []Rejection
}

// RefusedIndexes lists the positions, in the batch given to Write, of the
// entries refused; the dispatcher dead-letters only those.
func (e *RejectedError) RefusedIndexes() []int {
	idx := make([]int, len(e.Rejected))
	for i, r := range e.Rejected {
		idx[i] = r.Index
	}
	return idx
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "logflux refused %d of %d entries", len(e.Rejected), e.Total)
	for i, r := range e.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Rejected)-3)
			break
		}
		fmt.Fprintf(&b, "; #%d (%s): %v", r.Index, r.Key, r.Reason)
	}
	b.WriteString(" (the others were delivered)")
	return b.String()
}

// authError is a key the server refuses even with a fresh handshake.
type authError struct{ err error }

func (e *authError) Error() string {
	return "the API key is refused (entries are kept and retried): " + e.err.Error()
}
func (e *authError) Unwrap() error { return e.err }

func isAuthFailure(err error) bool {
	var a *authError
	return errors.As(err, &a)
}

// quotaError holds a category back after a 507.
type quotaError struct {
	cat   category
	until time.Time
	err   error // the 507, nil when the pause was already running
}

func (e *quotaError) Error() string {
	s := fmt.Sprintf("logflux quota exceeded for %s; held back until %s", e.cat, e.until.Format(time.RFC3339))
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}
func (e *quotaError) Unwrap() error { return e.err }

// partialError says entries the server reported failed have retries left.
type partialError struct{}

func (e *partialError) Error() string {
	return "logflux ingest: the server reported entries failed; they will be sent again"
}
