package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/kafka"
	"github.com/logflux/agent/internal/output/outputtest"
)

// BenchmarkMillion: 1,000,000 records of about 300 bytes, through the
// dispatcher on a memory queue (filled before the clock starts), into an
// in-process kfake broker (one broker, 3 partitions). Reports entries/s and entries per CPU second.
//
//	go test -run XXX -bench Million -benchtime 1x ./internal/output/kafka/
func BenchmarkMillion(b *testing.B) {
	recs := outputtest.Bulk(b, outputtest.BenchEntries(b, 1_000_000), 300)
	for _, tc := range []struct {
		name string
		edit func(*kafka.Config)
	}{
		{"defaults", nil},
		{"batch10k", func(c *kafka.Config) { c.Batch.MaxEntries, c.Batch.MaxBytes = 10000, component.ByteSize(8<<20) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCluster(b, kfake.NumBrokers(1))
			out := newOutput(b, c.ListenAddrs(), tc.edit)
			outputtest.BenchDrain(b, out, recs)
		})
	}
	b.Run("disk", func(b *testing.B) { // defaults, from a disk queue
		c := newCluster(b, kfake.NumBrokers(1))
		outputtest.BenchDrainDisk(b, newOutput(b, c.ListenAddrs(), nil), recs)
	})
}
