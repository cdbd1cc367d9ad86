package logflux

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/ingestsim"
	"github.com/logflux/agent/internal/output"
)

// TestWriteEndToEnd sends entries of every type through discovery and the
// handshake, and compares each with what the simulator decrypted.
func TestWriteEndToEnd(t *testing.T) {
	t.Parallel()
	sim, ts := newSim(t, ingestsim.Options{})
	o, _ := newOutput(t, ts, Config{})
	recs := makeRecords("e2e", 2100) // 1470 of the events category: two requests
	if err := o.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if dups := checkDelivered(t, sim, recs, nil); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	st := sim.Stats()
	if st.Requests["/"][200] != 1 || st.Sessions != 1 || st.Failed != 0 {
		t.Errorf("discovery %v, sessions %d, failed parts %d; want one discovery and one session", st.Requests["/"], st.Sessions, st.Failed)
	}
	// Requests hold at most 1000 entries, all of one quota category.
	perReq := map[string][]int{}
	for _, r := range sim.Accepted() {
		perReq[r.RequestID] = append(perReq[r.RequestID], r.EntryType)
		if r.PayloadType != 1 {
			t.Fatalf("payload type %d; want 1 (gzip is on by default)", r.PayloadType)
		}
	}
	for id, types := range perReq {
		cat := ingestsim.CategoryOf(types[0])
		if len(types) > 1000 || slices.ContainsFunc(types, func(et int) bool { return ingestsim.CategoryOf(et) != cat }) {
			t.Errorf("request %s: %d entries of types %v", id, len(types), types)
		}
	}
	if len(perReq) < 4 {
		t.Errorf("%d requests; want events split in two, plus traces and audit", len(perReq))
	}
	if got := o.Counters.Entries.Load(); got != 2100 {
		t.Errorf("Counters.Entries = %d", got)
	}
}

func TestEndpointSkipsDiscovery(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{})
	o, _ := newOutput(t, ts, Config{Endpoint: ts.URL + "/", DiscoveryURL: "http://127.0.0.1:1"})
	if err := o.Write(t.Context(), makeRecords("ep", 3)); err != nil {
		t.Fatal(err)
	}
	if n := sim.Stats().Requests["/"][200]; n != 0 {
		t.Errorf("discovery asked %d times; an endpoint skips it", n)
	}
}

func TestHandshakeShapesAndGzipOff(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{WrapResponses: true, LegacyKeyUUID: true})
	off := false
	o, logs := newOutput(t, ts, Config{Gzip: &off})
	recs := makeRecords("shape", 20)
	if err := o.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, sim, recs, nil)
	for _, r := range sim.Accepted() {
		if r.PayloadType != 2 {
			t.Fatalf("payload type %d with gzip off; want 2", r.PayloadType)
		}
	}
	if logs.count("gzip is off") != 1 {
		t.Errorf("no warning about gzip off:\n%s", logs)
	}
}

// TestLimitsFromHandshake: the output keeps within the limits the
// handshake gives and refuses an entry too large for them.
func TestLimitsFromHandshake(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Limits: ingestsim.Limits{MaxBatchSize: 7, MaxPayloadSize: 2048, MaxRequestSize: 8192}})
	o, _ := newOutput(t, ts, Config{})
	recs := makeRecords("lim", 100)
	noise := make([]byte, 3000)
	rand.Read(noise)
	big, _ := json.Marshal(map[string]any{"id": "lim-big", "entryType": 1, "logLevel": 3, "source": "s",
		"timestamp": "2026-11-25T09:29:59Z", "payload": base64.StdEncoding.EncodeToString(noise)})
	recs = slices.Insert(recs, 42, big)
	err := o.Write(t.Context(), recs)
	var rej *RejectedError
	if !output.IsPermanent(err) || !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Index != 42 || rej.Rejected[0].Key != "lim-big" {
		t.Fatalf("Write = %v; want Permanent rejecting only #42", err)
	}
	checkDelivered(t, sim, recs, map[string]bool{"lim-big": true})
	st := sim.Stats()
	if st.Ingest(413) != 0 {
		t.Errorf("%d answers 413: the output should keep within the advertised limits", st.Ingest(413))
	}
	perReq := map[string]int{}
	for _, r := range sim.Accepted() {
		perReq[r.RequestID]++
	}
	for id, n := range perReq {
		if n > 7 {
			t.Errorf("request %s held %d entries; limit 7", id, n)
		}
	}
	if len(perReq) < 100/7 {
		t.Errorf("%d requests for 100 entries at 7 a request", len(perReq))
	}
}

// TestSplitOn413: a proxy refuses bodies the handshake allowed; the output
// halves the requests until they pass, and gives up an entry alone too big.
func TestSplitOn413(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Faults: ingestsim.Faults{BodyLimit: 3000}})
	o, _ := newOutput(t, ts, Config{})
	recs := makeRecords("split", 40)
	noise := make([]byte, 3000)
	rand.Read(noise)
	big, _ := json.Marshal(map[string]any{"id": "split-big", "entryType": 1, "logLevel": 3, "source": "s",
		"timestamp": "2026-11-25T09:29:59Z", "payload": base64.StdEncoding.EncodeToString(noise)})
	recs = append(recs, big)
	err := o.Write(t.Context(), recs)
	var rej *RejectedError
	if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Key != "split-big" || !output.IsPermanent(err) {
		t.Fatalf("Write = %v; want Permanent for split-big only", err)
	}
	if dups := checkDelivered(t, sim, recs, map[string]bool{"split-big": true}); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	if sim.Stats().Ingest(413) == 0 {
		t.Error("no 413 seen: the test did not exercise splitting")
	}
}

// TestStatusClassification checks what each failure answers the dispatcher.
func TestStatusClassification(t *testing.T) {
	cases := []struct {
		name      string
		faults    ingestsim.Faults
		permanent bool
		after     time.Duration
	}{
		{"500", ingestsim.Faults{StatusRates: map[int]float64{500: 1}}, false, 0},
		{"502", ingestsim.Faults{StatusRates: map[int]float64{502: 1}}, false, 0},
		{"503", ingestsim.Faults{StatusRates: map[int]float64{503: 1}}, false, 0},
		{"504", ingestsim.Faults{StatusRates: map[int]float64{504: 1}}, false, 0},
		{"unexpected 404", ingestsim.Faults{StatusRates: map[int]float64{404: 1}}, false, 0},
		{"dropped connection", ingestsim.Faults{DropRate: 1}, false, 0},
		{"429 with Retry-After", ingestsim.Faults{StatusRates: map[int]float64{429: 1}, RetryAfter: 3 * time.Second}, false, 3 * time.Second},
		{"429 without Retry-After", ingestsim.Faults{StatusRates: map[int]float64{429: 1}}, false, 60 * time.Second},
		{"507 with Retry-After", ingestsim.Faults{Quota: []ingestsim.Category{ingestsim.CategoryEvents}, RetryAfter: 7 * time.Second}, false, 7 * time.Second},
		{"507 without Retry-After", ingestsim.Faults{Quota: []ingestsim.Category{ingestsim.CategoryEvents}}, false, 11 * time.Minute},
		{"401 everywhere", ingestsim.Faults{StatusRates: map[int]float64{401: 1}}, false, 13 * time.Minute},
		{"400", ingestsim.Faults{StatusRates: map[int]float64{400: 1}}, true, 0},
		{"every part failed", ingestsim.Faults{PartFailureRate: 1}, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, ts := newSim(t, ingestsim.Options{})
			now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			o, _ := newOutput(t, ts, Config{QuotaPause: 11 * time.Minute, AuthRetryDelay: 13 * time.Minute, Clock: func() time.Time { return now }})
			if err := o.Write(t.Context(), makeRecords("warm", 1)); err != nil {
				t.Fatal(err) // a session exists before the fault
			}
			sim.SetFaults(c.faults)
			err := o.Write(t.Context(), [][]byte{makeRecords("c", 1)[0]})
			if err == nil || output.IsPermanent(err) != c.permanent || output.RetryAfter(err) != c.after {
				t.Errorf("Write = %v (permanent %v, after %v); want permanent %v, after %v", err, output.IsPermanent(err), output.RetryAfter(err), c.permanent, c.after)
			}
			var re *output.RetryableError
			if !c.permanent && !errors.As(err, &re) {
				t.Errorf("Write = %T; want *output.RetryableError", err)
			}
		})
	}
}

// TestSessionExpiryRehandshakes: a 401 on a session that worked means it
// expired: one new handshake, and nothing lost or sent twice.
func TestSessionExpiryRehandshakes(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Limits: ingestsim.Limits{MaxBatchSize: 10}, Faults: ingestsim.Faults{SessionRequests: 4}})
	o, _ := newOutput(t, ts, Config{})
	recs := makeRecords("exp", 200)
	if err := o.Write(t.Context(), recs[:100]); err != nil {
		t.Fatal(err)
	}
	sim.ExpireSessions()
	if err := o.Write(t.Context(), recs[100:]); err != nil {
		t.Fatal(err)
	}
	if dups := checkDelivered(t, sim, recs, nil); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	st := sim.Stats()
	if st.Ingest(401) < 5 || st.Sessions != st.Ingest(401)+1 {
		t.Errorf("%d answers 401, %d sessions; want one new session per 401", st.Ingest(401), st.Sessions)
	}
}

// TestKeyRefused: a key the server refuses keeps entries (retryable, long
// delay), with an error that says so (the dispatcher logs it once).
func TestKeyRefused(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{APIKeys: []string{"eu-lf_someoneelse"}})
	o, logs := newOutput(t, ts, Config{AuthRetryDelay: 17 * time.Minute})
	for range 3 {
		err := o.Write(t.Context(), makeRecords("refused", 5))
		if output.IsPermanent(err) || output.RetryAfter(err) != 17*time.Minute {
			t.Fatalf("Write = %v; want retryable after 17m", err)
		}
	}
	if err := o.Write(t.Context(), makeRecords("refused", 1)); err == nil || !strings.Contains(err.Error(), "API key is refused") {
		t.Errorf("Write = %v; want it to say the API key is refused", err)
	}
	if n := logs.count("level=WARN") + logs.count("level=ERROR"); n != 0 {
		t.Errorf("the output logged %d failures itself; the dispatcher logs them:\n%s", n, logs)
	}
	if sim.Stats().Accepted != 0 {
		t.Error("entries accepted with a refused key")
	}

}

// expiringTransport ends every session just before each ingest request.
type expiringTransport struct {
	next http.RoundTripper
	sim  *ingestsim.Server
	on   atomic.Bool
}

func (e *expiringTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/ingest" && e.on.Load() {
		e.sim.ExpireSessions()
	}
	return e.next.RoundTrip(r)
}

// TestFreshSessionRefused: a 401 on a session that never worked is the key
// refused, not an expiry: no loop of handshakes.
func TestFreshSessionRefused(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{})
	et := &expiringTransport{next: ts.Client().Transport, sim: sim}
	o, _ := newOutput(t, ts, Config{HTTPClient: &http.Client{Transport: et}, AuthRetryDelay: 17 * time.Minute})
	if err := o.Write(t.Context(), makeRecords("f", 2)); err != nil {
		t.Fatal(err)
	}
	et.on.Store(true)
	err := o.Write(t.Context(), makeRecords("g", 2))
	if output.IsPermanent(err) || output.RetryAfter(err) != 17*time.Minute {
		t.Fatalf("Write = %v; want retryable after 17m", err)
	}
	if st := sim.Stats(); st.Sessions != 2 || st.Ingest(401) != 2 {
		t.Errorf("%d sessions, %d answers 401; want one re-handshake after the first 401 only", st.Sessions, st.Ingest(401))
	}
}

// TestQuotaHoldsCategory: a 507 for events (the first category sent) holds
// events back while traces and audit are delivered, and events follow once
// the pause is over.
func TestQuotaHoldsCategory(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Faults: ingestsim.Faults{Quota: []ingestsim.Category{ingestsim.CategoryEvents}}})
	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o, logs := newOutput(t, ts, Config{QuotaPause: time.Minute, Clock: clock})
	recs := makeRecords("quota", 30)
	events := map[string]bool{}
	for _, r := range recs {
		m, _ := mapRecord(r, fixedNow)
		if categoryOf(m.entryType) == catEvents {
			events[m.key] = true
		}
	}
	err := o.Write(t.Context(), recs)
	if output.IsPermanent(err) || output.RetryAfter(err) != time.Minute {
		t.Fatalf("Write = %v; want retryable after the 1m pause", err)
	}
	if len(events) == len(recs) || len(events) == 0 {
		t.Fatalf("%d events among %d records", len(events), len(recs))
	}
	checkDelivered(t, sim, recs, events) // traces and audit went
	before := sim.Stats().Requests["/v1/ingest"]

	mu.Lock()
	now = now.Add(20 * time.Second)
	mu.Unlock()
	err = o.Write(t.Context(), recs)
	if output.RetryAfter(err) != 40*time.Second {
		t.Errorf("Write during the pause = %v; want retryable after the 40s left", err)
	}
	if after := sim.Stats().Requests["/v1/ingest"]; !maps.Equal(before, after) {
		t.Errorf("requests during the pause: %v → %v; want none", before, after)
	}

	sim.SetFaults(ingestsim.Faults{})
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := o.Write(t.Context(), recs); err != nil {
		t.Fatalf("Write after the pause = %v", err)
	}
	if dups := checkDelivered(t, sim, recs, nil); dups != 0 {
		t.Errorf("%d duplicates: entries delivered before the pause were sent again", dups)
	}
	if logs.count("quota pause over") != 1 {
		t.Errorf("logs:\n%s", logs)
	}
}

// failingTransport fails chosen ingest requests with a network error.
type failingTransport struct {
	next   http.RoundTripper
	n      atomic.Int64
	failOn map[int64]bool
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/ingest" && f.failOn[f.n.Add(1)] {
		return nil, errors.New("injected network failure")
	}
	return f.next.RoundTrip(r)
}

// TestDeliveredNotResent: when a later request of a batch fails, the
// retried batch sends only what did not arrive.
func TestDeliveredNotResent(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Limits: ingestsim.Limits{MaxBatchSize: 5}})
	ft := &failingTransport{next: ts.Client().Transport, failOn: map[int64]bool{3: true, 4: true}}
	o, _ := newOutput(t, ts, Config{HTTPClient: &http.Client{Transport: ft}})
	recs := makeRecords("once", 60)
	for i, want := range []bool{false, false, true} { // fails on request 3, then 4, then succeeds
		err := o.Write(t.Context(), recs)
		if (err == nil) != want {
			t.Fatalf("Write %d = %v", i, err)
		}
		if err != nil && (output.IsPermanent(err) || output.RetryAfter(err) != 0) {
			t.Fatalf("Write %d = %v; want retryable with the normal backoff", i, err)
		}
	}
	if dups := checkDelivered(t, sim, recs, nil); dups != 0 {
		t.Errorf("%d entries sent twice", dups)
	}
}

// TestPartialFailures: entries reported failed in a success answer are sent
// again, alone, and given up after PartRetries.
func TestPartialFailures(t *testing.T) {
	t.Run("always failing", func(t *testing.T) {
		sim, ts := newSim(t, ingestsim.Options{Faults: ingestsim.Faults{PartFailureRate: 1}})
		o, _ := newOutput(t, ts, Config{PartRetries: 3})
		recs := makeRecords("pf", 4)
		var err error
		for range 3 {
			err = o.Write(t.Context(), recs)
		}
		var rej *RejectedError
		if !output.IsPermanent(err) || !errors.As(err, &rej) || len(rej.Rejected) != 4 {
			t.Fatalf("third Write = %v; want Permanent rejecting all 4", err)
		}
		if st := sim.Stats(); st.Failed != 12 || st.Accepted != 0 {
			t.Errorf("parts failed %d; want 4 entries × 3 tries", st.Failed)
		}
	})
	t.Run("sometimes failing", func(t *testing.T) {
		sim, ts := newSim(t, ingestsim.Options{Seed: 5, Faults: ingestsim.Faults{PartFailureRate: 0.3}})
		o, _ := newOutput(t, ts, Config{PartRetries: 50})
		recs := makeRecords("ps", 300)
		var err error
		for range 50 {
			if err = o.Write(t.Context(), recs); err == nil || output.IsPermanent(err) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if dups := checkDelivered(t, sim, recs, nil); dups != 0 {
			t.Errorf("%d duplicates: a succeeded entry was sent again", dups)
		}
	})
}

// TestBadRecords: records that are not entries are refused; the rest go.
func TestBadRecords(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{})
	o, _ := newOutput(t, ts, Config{})
	recs := makeRecords("bad", 5)
	recs = slices.Insert(recs, 1, []byte("not json"))
	recs = slices.Insert(recs, 4, []byte(`{"id":"bad-type","entryType":9,"logLevel":1,"source":"s","payload":"p"}`))
	err := o.Write(t.Context(), recs)
	var rej *RejectedError
	if !output.IsPermanent(err) || !errors.As(err, &rej) || len(rej.Rejected) != 2 || rej.Rejected[0].Index != 1 || rej.Rejected[1].Index != 4 || rej.Rejected[1].Key != "bad-type" {
		t.Fatalf("Write = %v", err)
	}
	checkDelivered(t, sim, slices.Concat(recs[:1], recs[2:4], recs[5:]), nil)
	if o.Counters.Refused.Load() != 2 {
		t.Errorf("Counters.Refused = %d", o.Counters.Refused.Load())
	}
}

// TestRepeatedRecords: records sharing an id, or identical, are each
// delivered, also when the batch is retried after some went through.
func TestRepeatedRecords(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{Limits: ingestsim.Limits{MaxBatchSize: 2}})
	ft := &failingTransport{next: ts.Client().Transport, failOn: map[int64]bool{2: true}}
	o, _ := newOutput(t, ts, Config{HTTPClient: &http.Client{Transport: ft}})
	one := makeRecords("rep", 1)[0]
	noID := []byte(`{"entryType":1,"logLevel":6,"source":"s","timestamp":"2026-11-25T09:29:59Z","payload":"same"}`)
	recs := [][]byte{one, one, noID, one, noID}
	if err := o.Write(t.Context(), recs); err == nil {
		t.Fatal("the injected failure did not happen")
	}
	if err := o.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Accepted()); n != len(recs) {
		t.Errorf("%d payloads arrived for %d records", n, len(recs))
	}
}

func TestCloseIdempotent(t *testing.T) {
	_, ts := newSim(t, ingestsim.Options{})
	o, _ := newOutput(t, ts, Config{})
	if o.Name() != "logflux" {
		t.Errorf("Name = %q", o.Name())
	}
	for range 2 {
		if err := o.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	err := o.Write(t.Context(), makeRecords("closed", 1))
	if !errors.Is(err, ErrClosed) || output.IsPermanent(err) {
		t.Errorf("Write after Close = %v; want retryable ErrClosed", err)
	}
}

// TestLogsNoFailures: the output leaves logging failures to the dispatcher
// (which logs each once), and reports what a failed Write delivered.
func TestLogsNoFailures(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{})
	o, logs := newOutput(t, ts, Config{})
	o.Write(t.Context(), makeRecords("w", 1))
	sim.SetFaults(ingestsim.Faults{StatusRates: map[int]float64{503: 1}})
	recs := makeRecords("l", 3)
	for range 5 {
		if err := o.Write(t.Context(), recs); err == nil {
			t.Fatal("Write succeeded under a 503 fault")
		}
	}
	sim.SetFaults(ingestsim.Faults{})
	if err := o.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("level=WARN") + logs.count("level=ERROR"); n != 0 {
		t.Errorf("the output logged %d failures itself; the dispatcher logs them:\n%s", n, logs)
	}
}

func TestDiscoveryFailures(t *testing.T) {
	sim, ts := newSim(t, ingestsim.Options{})
	for name, url := range map[string]string{
		"not found":   ts.URL + "/nowhere",
		"unreachable": "http://127.0.0.1:1",
	} {
		t.Run(name, func(t *testing.T) {
			o, _ := newOutput(t, ts, Config{DiscoveryURL: url})
			err := o.Write(t.Context(), makeRecords("d", 1))
			if err == nil || output.IsPermanent(err) {
				t.Errorf("Write = %v; want retryable", err)
			}
		})
	}
	if sim.Stats().Accepted != 0 {
		t.Error("accepted without discovery")
	}
}

func TestNew(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no key":      {},
		"bad key":     {APIKey: "eu-lf_usr_x"},
		"no key file": {APIKeyFile: "testdata/none"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	o, err := New(Config{APIKey: "ap-lf_abc"})
	if err != nil {
		t.Fatal(err)
	}
	if o.discoveryURL != "https://discover.ap.logflux.io" || o.Name() != "logflux" {
		t.Errorf("discovery URL %q", o.discoveryURL)
	}
	o, _ = New(Config{APIKey: "lf_legacy"})
	if o.discoveryURL != "https://discover.eu.logflux.io" {
		t.Errorf("legacy key discovery URL %q; want the EU one", o.discoveryURL)
	}
}
