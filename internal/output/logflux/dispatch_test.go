package logflux

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/ingestsim"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
)

// deadLetters is a DeadLetter store in memory.
type deadLetters struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (d *deadLetters) Put(_ string, recs [][]byte, _ error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keys == nil {
		d.keys = map[string]bool{}
	}
	for _, r := range recs {
		var e struct {
			ID string `json:"id"`
		}
		json.Unmarshal(r, &e)
		d.keys[recordKey(e.ID, r)] = true
	}
	return nil
}

// run drives a dispatcher over a memory queue into the output while the
// entries are appended little by little; during runs alongside, to change
// faults. It returns the simulator, the dead letters and the logs once the
// queue is drained.
type run struct {
	sim      *ingestsim.Server
	dead     *deadLetters
	logs     *logBuffer
	recs     [][]byte
	elapsed  time.Duration
	dispatch *output.Dispatcher
}

func dispatch(t *testing.T, name string, n int, simOpts ingestsim.Options, cfg Config, during func(r *run)) *run {
	t.Helper()
	sim, ts := newSim(t, simOpts)
	o, logs := newOutput(t, ts, cfg)
	q := queue.NewMemory(64<<20, queue.Block)
	reader, err := q.Reader(o.Name())
	if err != nil {
		t.Fatal(err)
	}
	r := &run{sim: sim, dead: &deadLetters{}, logs: logs, recs: makeRecords(name, n)}
	r.dispatch = &output.Dispatcher{
		Out: o, Reader: reader, MaxRecords: 200, DeadLetter: r.dead,
		Backoff: backoff.Backoff{Base: 2 * time.Millisecond, Max: 20 * time.Millisecond},
		Log:     slog.New(slog.NewTextHandler(logs, nil)),
	}
	// A bound for a stuck dispatcher only: a run takes 1.5 s on an idle
	// machine, and was seen to take 21 s under -race on a loaded one.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.dispatch.Run(ctx) }()
	var wg sync.WaitGroup
	if during != nil {
		wg.Go(func() { during(r) })
	}
	for i := 0; i < n; i += 10 { // about 1.5 s of arrivals
		if err := q.Append(ctx, r.recs[i:min(i+10, n)]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
	q.CloseWrite()
	if err := <-done; err != nil {
		t.Fatalf("dispatcher: %v (stats %+v)", err, sim.Stats())
	}
	r.elapsed = time.Since(start)
	return r
}

// waitAccepted waits until the simulator accepted n entries.
func (r *run) waitAccepted(t *testing.T, n int64) {
	deadline := time.Now().Add(30 * time.Second)
	for r.sim.Stats().Accepted < n {
		if time.Now().After(deadline) {
			t.Errorf("only %d of %d entries accepted in time", r.sim.Stats().Accepted, n)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hold keeps the faults set for at least d and until the simulator's
// stats satisfy seen (at most 30 s): a loaded machine can let d pass
// without a single request.
func (r *run) hold(d time.Duration, seen func(ingestsim.Stats) bool) {
	time.Sleep(d)
	deadline := time.Now().Add(30 * time.Second)
	for !seen(r.sim.Stats()) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// check asserts that every entry arrived, and arrived twice only where the
// simulator dropped an answer after accepting, and nothing dead-lettered.
func (r *run) check(t *testing.T) {
	t.Helper()
	dups := checkDelivered(t, r.sim, r.recs, nil)
	st := r.sim.Stats()
	if int64(dups) > st.DroppedAccepted {
		t.Errorf("%d duplicates; only %d entries were in answers the simulator dropped", dups, st.DroppedAccepted)
	}
	if len(r.dead.keys) > 0 || r.dispatch.Counters.DeadLetter.Load() > 0 {
		t.Errorf("%d entries dead-lettered", len(r.dead.keys))
	}
	if r.dispatch.Counters.Sent.Load() != int64(len(r.recs)) {
		t.Errorf("dispatcher sent %d of %d", r.dispatch.Counters.Sent.Load(), len(r.recs))
	}
	t.Logf("%d entries in %v: %d duplicates; ingest answers %v, %d dropped, %d sessions",
		len(r.recs), r.elapsed.Round(time.Millisecond), dups, st.Requests["/v1/ingest"], st.Dropped, st.Sessions)
}

func TestDispatch503(t *testing.T) {
	t.Parallel()
	r := dispatch(t, "d503", 1000, ingestsim.Options{Seed: 1, Faults: ingestsim.Faults{StatusRates: map[int]float64{503: 0.3}}}, Config{}, nil)
	r.check(t)
	if r.sim.Stats().Ingest(503) == 0 {
		t.Error("no 503 injected")
	}
}

func TestDispatchDropsAndDuplicates(t *testing.T) {
	t.Parallel()
	r := dispatch(t, "ddrop", 1000, ingestsim.Options{Seed: 2, Faults: ingestsim.Faults{
		StatusRates: map[int]float64{503: 0.1}, DropRate: 0.1, DropAfterAcceptRate: 0.1,
	}}, Config{}, nil)
	r.check(t)
	if r.sim.Stats().DroppedAccepted == 0 {
		t.Error("no answer dropped after acceptance: the test did not exercise duplicates")
	}
}

// TestDispatch429Bursts: bursts of 429 with Retry-After 1 s; the dispatcher
// waits as asked.
func TestDispatch429Bursts(t *testing.T) {
	t.Parallel()
	var waits []time.Duration
	r := dispatch(t, "d429", 800, ingestsim.Options{}, Config{}, func(r *run) {
		for i := range 2 {
			r.waitAccepted(t, int64(200*(i+1)))
			r.sim.SetFaults(ingestsim.Faults{StatusRates: map[int]float64{429: 1}, RetryAfter: time.Second})
			start := time.Now()
			before := r.sim.Stats().Ingest(429)
			for r.sim.Stats().Ingest(429) == before && time.Since(start) < 5*time.Second {
				time.Sleep(time.Millisecond)
			}
			hit := time.Now()
			time.Sleep(200 * time.Millisecond)
			r.sim.SetFaults(ingestsim.Faults{})
			accepted := r.sim.Stats().Accepted
			for r.sim.Stats().Accepted == accepted && time.Since(hit) < 5*time.Second {
				time.Sleep(time.Millisecond)
			}
			waits = append(waits, time.Since(hit))
		}
	})
	r.check(t)
	for i, w := range waits {
		if w < 900*time.Millisecond {
			t.Errorf("burst %d: sent again after %v; Retry-After asked 1 s", i, w)
		}
	}
}

// TestDispatchSessionExpiry: sessions expire every few requests and once
// mid-stream: each 401 costs one handshake, nothing else.
func TestDispatchSessionExpiry(t *testing.T) {
	t.Parallel()
	r := dispatch(t, "dexp", 1000, ingestsim.Options{Limits: ingestsim.Limits{MaxBatchSize: 50}, Faults: ingestsim.Faults{SessionRequests: 7}}, Config{},
		func(r *run) {
			r.waitAccepted(t, 500)
			r.sim.ExpireSessions()
		})
	r.check(t)
	st := r.sim.Stats()
	if st.Ingest(401) < 2 || st.Sessions != st.Ingest(401)+1 {
		t.Errorf("%d answers 401 and %d sessions; want a new session for each 401", st.Ingest(401), st.Sessions)
	}
}

// TestDispatchOutage: "two minutes" of outage at 60× (a second of 503s, a
// second of dropped connections): the entries wait in the queue, arrive
// after, and the failure and the recovery are logged once each.
func TestDispatchOutage(t *testing.T) {
	t.Parallel()
	r := dispatch(t, "dout", 1000, ingestsim.Options{}, Config{}, func(r *run) {
		r.waitAccepted(t, 300)
		r.sim.SetFaults(ingestsim.Faults{StatusRates: map[int]float64{503: 1}})
		r.hold(time.Second, func(st ingestsim.Stats) bool { return st.Ingest(503) > 0 })
		r.sim.SetFaults(ingestsim.Faults{DropRate: 1})
		r.hold(time.Second, func(st ingestsim.Stats) bool { return st.Dropped > 0 })
		r.sim.SetFaults(ingestsim.Faults{})
	})
	r.check(t)
	st := r.sim.Stats()
	if st.Ingest(503) == 0 || st.Dropped == 0 {
		t.Errorf("%d answers 503, %d drops: the outage was not seen", st.Ingest(503), st.Dropped)
	}
	// One outage, however many kinds of failure: logged once when it
	// starts and once when it ends, by the dispatcher, with the output's name.
	if n := r.logs.count(`msg="output failed; retrying until it recovers" output=logflux`); n != 1 {
		t.Errorf("the outage was logged %d times; want once:\n%s", n, r.logs)
	}
	if n := r.logs.count(`msg="output recovered: delivered after `); n != 1 {
		t.Errorf("the recovery was logged %d times; want once:\n%s", n, r.logs)
	}
	if n := r.logs.count(`logflux: sending failed`); n != 0 {
		t.Errorf("the output logged failures itself %d times:\n%s", n, r.logs)
	}
}

func TestDispatchPartialFailures(t *testing.T) {
	t.Parallel()
	r := dispatch(t, "dpart", 1000, ingestsim.Options{Seed: 3, Faults: ingestsim.Faults{PartFailureRate: 0.2}}, Config{PartRetries: 20}, nil)
	r.check(t)
	if r.sim.Stats().Failed == 0 {
		t.Error("no part failed")
	}
}

// TestDispatchQuota: audit is over quota from the start until the
// simulator has answered 507 and delivered other entries meanwhile; the
// audit entries wait, the others do not. The quota is lifted on those
// events, not after a fixed time: on a loaded machine a fixed window could
// pass with no request sent in it, or after everything was delivered.
func TestDispatchQuota(t *testing.T) {
	t.Parallel()
	var during []ingestsim.Record // accepted while audit was over quota
	quota := ingestsim.Faults{Quota: []ingestsim.Category{ingestsim.CategoryAudit}}
	r := dispatch(t, "dquota", 1000, ingestsim.Options{Faults: quota}, Config{QuotaPause: 200 * time.Millisecond}, func(r *run) {
		// Failing to see both is reported below.
		r.hold(0, func(st ingestsim.Stats) bool { return st.Ingest(507) > 0 && st.Accepted > 0 })
		during = r.sim.Accepted() // before the quota is lifted: all under it
		r.sim.SetFaults(ingestsim.Faults{})
	})
	r.check(t)
	if r.sim.Stats().Ingest(507) == 0 {
		t.Error("no 507 seen")
	}
	if len(during) == 0 {
		t.Error("nothing delivered while audit was over quota")
	}
	for _, rec := range during {
		if ingestsim.CategoryOf(rec.EntryType) == ingestsim.CategoryAudit {
			t.Errorf("audit entry accepted while audit was over quota: %s", rec.Payload)
		}
	}
}
