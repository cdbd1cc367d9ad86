package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logflux/agent/internal/intake"
)

// The intake's protection of the agent and of its clients: storage that
// refuses appends, and (below) the limits that keep one client from
// starving the others.
var (
	dStorageFailing  = prometheus.NewDesc(ns+"storage_failing", "1 while the queue cannot store entries (disk full, I/O error) and clients are told to retry, else 0.", nil, nil)
	dStorageFailures = prometheus.NewDesc(ns+"storage_failures_total", "Times the queue started to refuse entries for want of disk or an I/O error.", nil, nil)
	dStorageRefused  = prometheus.NewDesc(ns+"storage_refused_entries_total", "Entries refused (answered, nothing kept) because the queue could not store them.", nil, nil)
)

var (
	dBuffered    = prometheus.NewDesc(ns+"buffered_line_bytes", "Bytes of unfinished lines longer than 256 KiB buffered now, counted against limits.max_buffered_bytes.", nil, nil)
	dBufferedMax = prometheus.NewDesc(ns+"buffered_line_bytes_peak", "The most bytes of such lines buffered at once since the start.", nil, nil)
)

var limitDescs = []*prometheus.Desc{dStorageFailing, dStorageFailures, dStorageRefused, dBuffered, dBufferedMax}

// collectLimits reports the intake's protective figures.
func collectLimits(ch chan<- prometheus.Metric, in *intake.Counters) {
	failing := 0.0
	if in.StorageFailing.Load() {
		failing = 1
	}
	gauge(ch, dStorageFailing, failing)
	counter(ch, dStorageFailures, in.StorageFailures.Load())
	counter(ch, dStorageRefused, in.StorageRefused.Load())
	now, peak := in.Buffered()
	gauge(ch, dBuffered, float64(now))
	gauge(ch, dBufferedMax, float64(peak))
	for reason, n := range in.Refusals() {
		counter(ch, dConnRefused, n, reason)
	}
}
