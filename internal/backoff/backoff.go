// Package backoff computes capped exponential retry delays with full jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields delays base·2^n, capped at Max, each drawn uniformly from
// [0, that] (full jitter) but never below Min. The zero value is not usable;
// set Base and Max.
type Backoff struct {
	Base time.Duration // first ceiling
	Max  time.Duration // largest ceiling
	Min  time.Duration // smallest delay returned (optional)

	n     int // doublings so far
	fails int // delays taken since the last Reset
}

// Next returns the delay before the next attempt and advances the sequence.
func (b *Backoff) Next() time.Duration {
	ceil := b.Base << b.n
	if ceil <= 0 || ceil > b.Max {
		ceil = b.Max
	} else {
		b.n++
	}
	b.fails++
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	if d < b.Min {
		d = b.Min
	}
	return d
}

// Failures returns how many delays were taken since the last Reset.
func (b *Backoff) Failures() int { return b.fails }

// Reset starts the sequence over after a success.
func (b *Backoff) Reset() { b.n, b.fails = 0, 0 }
