package metrics

import (
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
