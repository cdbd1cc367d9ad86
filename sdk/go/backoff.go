package logflux

import (
	"math/rand/v2"
	"time"
)

// backoff yields capped exponential delays with full jitter: the n-th delay
// is drawn uniformly from [min, min(max, min·2^n)]. The zero value is not
// usable; set min and max.
type backoff struct {
	min, max time.Duration
	n        int // doublings so far
}

func (b *backoff) next() time.Duration {
	ceil := b.min << b.n
	if ceil <= 0 || ceil >= b.max {
		ceil = b.max
	} else {
		b.n++
	}
	if ceil <= b.min {
		return b.min
	}
	return b.min + rand.N(ceil-b.min+1)
}

func (b *backoff) reset() { b.n = 0 }
