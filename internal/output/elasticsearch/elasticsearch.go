// Package elasticsearch is the output that indexes entries into Elasticsearch or OpenSearch with the _bulk API, each entry under its own id so that a retry never duplicates it.
package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// endpointPause is how long an endpoint that failed is passed over.
const endpointPause = 10 * time.Second

// Output sends batches to one cluster.
type Output struct {
	name   string
	cfg    *Config
	client *http.Client
	req    remote.Post
	log    *slog.Logger
	memo   remote.Memo
	zbuf   []byte
	body   []byte // the request, reused

	// The action line's start for the last index used (an index name
	// changes with the date at most).
	opDate   string
	opPrefix []byte

	mu        sync.Mutex
	next      int
	downUntil []time.Time

	retriedItems *atomic.Int64
	conflicts    *atomic.Int64
}

var _ output.Tuned = (*Output)(nil)

// New builds an output from a validated configuration.
func New(cfg *Config, set component.Settings) (*Output, error) {
	client, err := cfg.HTTPClient()
	if err != nil {
		return nil, err
	}
	log := set.Log
	if log == nil {
		log = slog.Default()
	}
	o := &Output{name: set.Name, cfg: cfg, client: client, log: log,
		req:          remote.Post{ContentType: "application/x-ndjson", Compression: cfg.Compression},
		downUntil:    make([]time.Time, len(cfg.Endpoints)),
		retriedItems: set.Metrics.Counter("retried_items", "Bulk items answered 429 or 5xx, sent again."),
		conflicts:    set.Metrics.Counter("conflict_items", "Bulk items answered 409 (the id was already indexed), counted as delivered."),
	}
	switch {
	case cfg.APIKey != "" || cfg.APIKeyFile != "":
		key, err := remote.Secret(cfg.APIKey, cfg.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("api_key_file: %w", err)
		}
		o.req.Auth = func(r *http.Request) { r.Header.Set("Authorization", "ApiKey "+key) }
	case cfg.Username != "":
		if o.req.Auth, err = cfg.BasicAuth.Auth(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// Close releases idle connections.
func (o *Output) Close(context.Context) error { o.client.CloseIdleConnections(); return nil }

type item struct {
	id  string
	ts  string // the entry's timestamp: the index's date and @timestamp
	rec []byte // the record, valid during the Write
}

// Write indexes the records not yet indexed or refused in an earlier
// attempt at this batch. Items answered 429 or 5xx are the only ones sent
// again; a 409 on create means the id is already indexed (delivered);
// other refusals (mapping errors) are dead-lettered with their reason.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	ids, todo := remote.Pending(&o.memo, records, readItem)
	delivered := 0
	err := o.send(ctx, todo, &delivered)
	return o.memo.End(err, delivered, ids)
}

// readItem reads what a _bulk create needs of a record: its id and
// timestamp; the document is the record itself, with @timestamp put first
// when the request is written.
func readItem(r []byte) (item, string, error) {
	id, ts, err := record.ReadStamp(r)
	if err != nil {
		return item{}, "", err
	}
	return item{id: id, ts: ts, rec: r}, id, nil
}

// indexFor fills the date patterns from the entry's timestamp (UTC).
func (o *Output) indexFor(ts string) string {
	idx := o.cfg.Index
	if !strings.Contains(idx, "%") || len(ts) < 10 {
		return idx
	}
	return strings.NewReplacer("%Y", ts[0:4], "%m", ts[5:7], "%d", ts[8:10]).Replace(idx)
}

// send sends items in bodies below max_request_bytes, halving on 413.
func (o *Output) send(ctx context.Context, items []item, delivered *int) error {
	if len(items) == 0 {
		return nil
	}
	body := o.encode(items)
	if len(body) > int(o.cfg.MaxRequestBytes) && len(items) > 1 {
		return o.halves(ctx, items, delivered)
	}
	ans, err := o.post(ctx, body)
	if err != nil {
		return err
	}
	if ans.Status == http.StatusRequestEntityTooLarge && len(items) > 1 {
		return o.halves(ctx, items, delivered)
	}
	if err := ans.Classify(remote.HTTPRetryable); err != nil {
		if output.IsPermanent(err) {
			for _, it := range items {
				o.memo.MarkRefused(it.id, err)
			}
			return nil
		}
		return err
	}
	return o.items(items, ans, delivered)
}

func (o *Output) halves(ctx context.Context, items []item, delivered *int) error {
	mid := len(items) / 2
	if err := o.send(ctx, items[:mid], delivered); err != nil {
		return err
	}
	return o.send(ctx, items[mid:], delivered)
}

// bulkAnswer is the part of a _bulk answer read.
type bulkAnswer struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"items"`
}

// bulkItem is one item's result, under the name of its action (always
// create here; the others for completeness).
type bulkItem struct {
	Create *bulkItemBody `json:"create"`
	Index  *bulkItemBody `json:"index"`
	Update *bulkItemBody `json:"update"`
	Delete *bulkItemBody `json:"delete"`
}

func (it *bulkItem) result() bulkItemBody {
	for _, b := range []*bulkItemBody{it.Create, it.Index, it.Update, it.Delete} {
		if b != nil {
			return *b
		}
	}
	return bulkItemBody{}
}

type bulkItemBody struct {
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// items reads the per-item results of a 200 answer.
func (o *Output) items(items []item, ans *remote.Answer, delivered *int) error {
	if errs, n, ok := skimBulk(ans.Body); ok && !errs && (n == len(items) || n == 0) {
		// "errors": false: every item succeeded, and their results need
		// not be decoded one by one (most of the CPU of a large batch).
		for _, it := range items {
			o.memo.MarkDelivered(it.id)
		}
		*delivered += len(items)
		return nil
	}
	var ba bulkAnswer
	if err := json.Unmarshal(ans.Body, &ba); err != nil {
		// The request was taken but its answer is unreadable: retrying
		// duplicates nothing (create by id), so retry.
		return output.Retryable(fmt.Errorf("unreadable _bulk answer: %w", err), 0)
	}
	if !ba.Errors && len(ba.Items) == 0 {
		for _, it := range items {
			o.memo.MarkDelivered(it.id)
		}
		*delivered += len(items)
		return nil
	}
	if len(ba.Items) != len(items) {
		return output.Retryable(fmt.Errorf("_bulk answered %d items for %d sent", len(ba.Items), len(items)), 0)
	}
	var retry error
	retried := 0
	for i, it := range items {
		res := ba.Items[i].result()
		switch {
		case res.Status >= 200 && res.Status < 300:
			o.memo.MarkDelivered(it.id)
			*delivered++
		case res.Status == http.StatusConflict:
			o.conflicts.Add(1)
			o.memo.MarkDelivered(it.id)
			*delivered++
		case remote.HTTPRetryable(res.Status):
			retried++
			if retry == nil {
				retry = fmt.Errorf("_bulk item %d: %s", res.Status, itemReason(res))
			}
		default:
			o.memo.MarkRefused(it.id, fmt.Errorf("_bulk item %d: %s", res.Status, itemReason(res)))
		}
	}
	if retried > 0 {
		o.retriedItems.Add(int64(retried))
		return output.Retryable(fmt.Errorf("%d of %d items to retry, first: %w", retried, len(items), retry), 0)
	}
	return nil
}

// skimBulk reads a _bulk answer's top-level "errors" and counts the items
// of its top-level "items" array in one pass, without decoding them. ok is
// false when the answer is not a JSON object it can read this way (then
// encoding/json decides) or has no "errors" member.
func skimBulk(b []byte) (errors bool, items int, ok bool) {
	depth := 0
	var key []byte       // the last member name read at depth 1
	inItems := false     // inside the top-level "items" array
	expectValue := false // after a depth-1 member name and its colon
	sawErrors := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r', ',':
		case ':':
			expectValue = depth == 1
		case '"':
			end := i + 1
			for ; end < len(b) && b[end] != '"'; end++ {
				if b[end] == '\\' {
					end++
				}
			}
			if end >= len(b) {
				return false, 0, false
			}
			if depth == 1 && !expectValue {
				key = b[i+1 : end]
			}
			expectValue = false
			i = end
		case '{', '[':
			if depth == 0 && c != '{' {
				return false, 0, false
			}
			if inItems && depth == 2 && c == '{' {
				items++
			}
			if depth == 1 && expectValue {
				inItems = c == '[' && string(key) == "items"
				if inItems {
					items = 0 // a repeated member: the last one counts
				}
			}
			expectValue = false
			depth++
		case '}', ']':
			depth--
			if depth == 1 {
				inItems = false
			}
			if depth == 0 {
				return errors, items, sawErrors
			}
		case 't', 'f':
			if depth == 1 && expectValue && string(key) == "errors" {
				sawErrors, errors = true, c == 't'
			}
			expectValue = false
			for i+1 < len(b) && b[i+1] >= 'a' && b[i+1] <= 'z' {
				i++
			}
		default:
			expectValue = false
		}
	}
	return false, 0, false
}

func itemReason(res bulkItemBody) string {
	if res.Error == nil {
		return http.StatusText(res.Status)
	}
	return res.Error.Type + ": " + res.Error.Reason
}

// encode writes the _bulk request into o.body: for each item a create
// action with its index and _id, and the record with @timestamp first.
func (o *Output) encode(items []item) []byte {
	b := o.body[:0]
	for _, it := range items {
		b = append(b, o.actionPrefix(it.ts)...)
		b = append(b, it.id...)
		b = append(b, "\"}}\n"...)
		b = append(b, `{"@timestamp":`...)
		b, _ = appendJSONString(b, it.ts)
		if len(it.rec) > 2 { // not an empty object
			b = append(b, ',')
		}
		b = append(b, it.rec[1:]...)
		b = append(b, '\n')
	}
	o.body = b
	return b
}

// actionPrefix is `{"create":{"_index":"<index>","_id":"` for an entry's
// timestamp, remembered for the last date.
func (o *Output) actionPrefix(ts string) []byte {
	date := ts[:min(len(ts), 10)]
	if o.opPrefix == nil || date != o.opDate {
		o.opDate = date
		p := []byte(`{"create":{"_index":`)
		p, _ = appendJSONString(p, o.indexFor(ts))
		o.opPrefix = append(p, `,"_id":"`...)
	}
	return o.opPrefix
}

// endpoint picks the next endpoint not resting after a failure (or the
// next one, when all are).
func (o *Output) endpoint() (int, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	n := len(o.cfg.Endpoints)
	for k := 0; k < n; k++ {
		i := (o.next + k) % n
		if now.After(o.downUntil[i]) {
			o.next = i + 1
			return i, o.cfg.Endpoints[i]
		}
	}
	i := o.next % n
	o.next++
	return i, o.cfg.Endpoints[i]
}

func (o *Output) markDown(i int) {
	o.mu.Lock()
	o.downUntil[i] = time.Now().Add(endpointPause)
	o.mu.Unlock()
}

func (o *Output) post(ctx context.Context, body []byte) (*remote.Answer, error) {
	i, base := o.endpoint()
	req := o.req
	req.URL = strings.TrimSuffix(base, "/") + "/_bulk"
	if o.cfg.Pipeline != "" {
		req.URL += "?pipeline=" + url.QueryEscape(o.cfg.Pipeline)
	}
	ans, err := req.Send(ctx, o.client, &o.zbuf, body)
	if err != nil || ans.Status >= 500 {
		o.markDown(i)
	}
	if err != nil {
		var re *output.RetryableError
		if errors.As(err, &re) {
			re.Err = fmt.Errorf("%s: %w", base, re.Err)
		}
		return nil, err
	}
	return ans, nil
}

func appendJSONString(dst []byte, s string) ([]byte, error) {
	b, err := json.Marshal(s)
	return append(dst, b...), err
}
