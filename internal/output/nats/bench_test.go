package nats_test

import (
	"testing"

	"github.com/logflux/agent/internal/component"
	natsout "github.com/logflux/agent/internal/output/nats"
	"github.com/logflux/agent/internal/output/outputtest"
)

// BenchmarkMillion: 1,000,000 records of about 300 bytes, through the
// dispatcher on a memory queue (filled before the clock starts), into an
// embedded nats-server's JetStream stream (file storage in a temp dir).
// Reports entries/s and entries per CPU second.
//
//	go test -run XXX -bench Million -benchtime 1x ./internal/output/nats/
func BenchmarkMillion(b *testing.B) {
	recs := outputtest.Bulk(b, outputtest.BenchEntries(b, 1_000_000), 300)
	for _, tc := range []struct {
		name string
		edit func(*natsout.Config)
	}{
		{"defaults", nil},
		{"batch10k", func(c *natsout.Config) { c.Batch.MaxEntries, c.Batch.MaxBytes = 10000, component.ByteSize(8<<20) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := runServer(b, b.TempDir(), 0, nil)
			out := newOutput(b, s.ClientURL(), tc.edit)
			outputtest.BenchDrain(b, out, recs)
		})
	}
	b.Run("disk", func(b *testing.B) { // defaults, from a disk queue
		s := runServer(b, b.TempDir(), 0, nil)
		outputtest.BenchDrainDisk(b, newOutput(b, s.ClientURL(), nil), recs)
	})
}
