package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/queue"
)

func TestCollectorReportsTheCounters(t *testing.T) {
	var in intake.Counters
	in.UnixOpen.Store(2)
	in.Accepted.Store(40)
	in.Rejected.Store(3)
	in.QueueFull.Store(1)
	var oc output.Counters
	t0 := time.Unix(1700000000, 0)
	oc.Delivered(1000, t0, t0.Add(3*time.Millisecond))
	oc.Delivered(1000, t0, t0.Add(40*time.Millisecond))
	oc.Delivered(7, t0, t0.Add(2*time.Second))
	oc.Fail(output.Retryable(errors.New("connection refused"), 0))
	oc.Fail(output.Retryable(errors.New("slow down"), time.Second))
	oc.Fail(output.Permanent(errors.New("mapping error")))
	oc.Fail(fmt.Errorf("produce: %w", context.DeadlineExceeded))
	oc.Fail(output.Retryable(errors.New("503"), 0))
	var reloads Reloads
	reloads.Failure.Store(1)
	reg := NewRegistry(Sources{
		Intake: func() *intake.Counters { return &in },
		Queue: func() queue.Stats {
			return queue.Stats{Records: 1, Bytes: 300, MaxBytes: 1 << 20, Oldest: time.Now().Add(-time.Minute)}
		},
		Outputs: func() []Output { return []Output{{Name: "file", Counters: &oc}} },
		Reloads: &reloads,
	})
	want := `
# HELP logflux_agent_entries_accepted_total Entries accepted into the queue.
# TYPE logflux_agent_entries_accepted_total counter
logflux_agent_entries_accepted_total 40
# HELP logflux_agent_output_entries_sent_total Entries delivered, by output.
# TYPE logflux_agent_output_entries_sent_total counter
logflux_agent_output_entries_sent_total{output="file"} 2007
# HELP logflux_agent_entries_dropped_total Entries not delivered to an output, by reason.
# TYPE logflux_agent_entries_dropped_total counter
logflux_agent_entries_dropped_total{reason="dead_letter"} 0
logflux_agent_entries_dropped_total{reason="queue_full"} 1
# HELP logflux_agent_reloads_total Configuration reloads, by outcome.
# TYPE logflux_agent_reloads_total counter
logflux_agent_reloads_total{outcome="failure"} 1
logflux_agent_reloads_total{outcome="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"logflux_agent_entries_accepted_total", "logflux_agent_output_entries_sent_total",
		"logflux_agent_entries_dropped_total", "logflux_agent_reloads_total"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "logflux_agent_queue_oldest_entry_age_seconds")
	if err != nil || n != 1 {
		t.Fatalf("oldest-age metric: %d %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP logflux_agent_output_send_failures_total Failed delivery attempts, by output and reason (permanent, throttled, timeout, transient).
# TYPE logflux_agent_output_send_failures_total counter
logflux_agent_output_send_failures_total{output="file",reason="permanent"} 1
logflux_agent_output_send_failures_total{output="file",reason="throttled"} 1
logflux_agent_output_send_failures_total{output="file",reason="timeout"} 1
logflux_agent_output_send_failures_total{output="file",reason="transient"} 2
# HELP logflux_agent_output_batch_entries Entries delivered per write (one batch, or the part of one a backend took), by output.
# TYPE logflux_agent_output_batch_entries histogram
logflux_agent_output_batch_entries_bucket{output="file",le="1"} 0
logflux_agent_output_batch_entries_bucket{output="file",le="5"} 0
logflux_agent_output_batch_entries_bucket{output="file",le="10"} 1
logflux_agent_output_batch_entries_bucket{output="file",le="50"} 1
logflux_agent_output_batch_entries_bucket{output="file",le="100"} 1
logflux_agent_output_batch_entries_bucket{output="file",le="250"} 1
logflux_agent_output_batch_entries_bucket{output="file",le="500"} 1
logflux_agent_output_batch_entries_bucket{output="file",le="1000"} 3
logflux_agent_output_batch_entries_bucket{output="file",le="2500"} 3
logflux_agent_output_batch_entries_bucket{output="file",le="5000"} 3
logflux_agent_output_batch_entries_bucket{output="file",le="10000"} 3
logflux_agent_output_batch_entries_bucket{output="file",le="50000"} 3
logflux_agent_output_batch_entries_bucket{output="file",le="+Inf"} 3
logflux_agent_output_batch_entries_sum{output="file"} 2007
logflux_agent_output_batch_entries_count{output="file"} 3
`), "logflux_agent_output_send_failures_total", "logflux_agent_output_batch_entries"); err != nil {
		t.Fatal(err)
	}
	// The latency histogram: 3 ms, 40 ms and 2 s, each in its bucket.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lat *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() == "logflux_agent_output_send_duration_seconds" {
			lat = mf.GetMetric()[0].GetHistogram()
		}
	}
	if lat == nil {
		t.Fatal("no logflux_agent_output_send_duration_seconds histogram")
	}
	if lat.GetSampleCount() != 3 || math.Abs(lat.GetSampleSum()-2.043) > 1e-9 {
		t.Errorf("latency count %d sum %g, want 3 and 2.043", lat.GetSampleCount(), lat.GetSampleSum())
	}
	bounds := map[float64]uint64{0.0025: 0, 0.005: 1, 0.025: 1, 0.05: 2, 1: 2, 2.5: 3, 30: 3}
	for _, b := range lat.GetBucket() {
		if w, ok := bounds[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("latency bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
		delete(bounds, b.GetUpperBound())
	}
	if len(bounds) > 0 {
		t.Errorf("latency buckets missing: %v", bounds)
	}
}

// build_info names the version and the Go version; the admin listener's
// failed attempts and start show a gap in the metrics themselves.
func TestBuildInfoAndAdminListener(t *testing.T) {
	since := time.Unix(1700000000, 500_000_000)
	reg := NewRegistry(Sources{Version: "1.2.3", Admin: func() (int64, time.Time) { return 4, since }})
	want := `
# HELP logflux_agent_build_info Always 1; the agent's version and the Go version that built it.
# TYPE logflux_agent_build_info gauge
logflux_agent_build_info{goversion="` + runtime.Version() + `",version="1.2.3"} 1
# HELP logflux_agent_admin_listen_failures_total Attempts to listen on admin.address that failed (it was in use), before the admin server started.
# TYPE logflux_agent_admin_listen_failures_total counter
logflux_agent_admin_listen_failures_total 4
# HELP logflux_agent_admin_listening_since_timestamp_seconds When the admin server started listening (Unix time); later than process_start_time_seconds when its address was in use at start.
# TYPE logflux_agent_admin_listening_since_timestamp_seconds gauge
logflux_agent_admin_listening_since_timestamp_seconds 1.7000000005e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "logflux_agent_build_info",
		"logflux_agent_admin_listen_failures_total", "logflux_agent_admin_listening_since_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}
