package output

import (
	"time"

	"github.com/logflux/agent/internal/backoff"
)

// Delivery is how the dispatcher batches and retries for one output. An
// output whose configuration sets these implements Tuned; the zero fields
// take the dispatcher's defaults.
type Delivery struct {
	MaxRecords int             // records per Write
	MaxBytes   int             // bytes of records per Write
	Linger     time.Duration   // how long a batch that is not full waits for more
	Backoff    backoff.Backoff // retry delays
}

// Tuned is an output with batching and retry settings of its own.
type Tuned interface {
	Delivery() Delivery
}
