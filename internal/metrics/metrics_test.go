package metrics

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
	oc.Sent.Store(39)
	oc.Batches.Store(4)
	oc.SendNanos.Store(int64(2 * time.Second))
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
logflux_agent_output_entries_sent_total{output="file"} 39
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
# HELP logflux_agent_output_send_duration_seconds Time spent in successful deliveries, by output.
# TYPE logflux_agent_output_send_duration_seconds summary
logflux_agent_output_send_duration_seconds_sum{output="file"} 2
logflux_agent_output_send_duration_seconds_count{output="file"} 4
`), "logflux_agent_output_send_duration_seconds"); err != nil {
		t.Fatal(err)
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
