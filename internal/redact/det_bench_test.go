package redact

import "testing"

func BenchmarkDetector(b *testing.B) {
	p := []byte(benchMix[0])
	for _, d := range detectors {
		b.Run(d.name, func(b *testing.B) {
			for b.Loop() {
				d.find(p, 0)
			}
		})
	}
}
