package bench

import (
	"math/rand/v2"
	"strconv"
)

// The load is encoded before the clock starts, so that the generator spends
// its share of the two cores writing, not formatting: a ring of distinct
// messages laid end to end in one buffer, which every connection walks from
// its own starting point and writes in large contiguous chunks.

// ringBytes is about how much the ring holds: enough that the payloads vary
// over many megabytes, small enough to stay cheap to build.
const ringBytes = 4 << 20

// ring is a sequence of encoded messages, each ending in '\n'.
type ring struct {
	buf     []byte
	ends    []int // ends[i] is the offset just past message i
	batch   int   // entries per message
	payload int
}

// start is the offset of message i.
func (r *ring) start(i int) int {
	if i == 0 {
		return 0
	}
	return r.ends[i-1]
}

func (r *ring) len() int { return len(r.ends) }

// newRing encodes up to maxMessages messages (fewer when ringBytes is
// reached first, at least one) of batch entries with payloads of exactly
// payload bytes.
func newRing(batch, payload int, maxMessages int64, seed uint64) *ring {
	g := newGen(seed, payload)
	perMsg := batch*(payload+lineOverhead) + 32
	n := max(1, min(maxMessages, int64(ringBytes/perMsg)))
	r := &ring{batch: batch, payload: payload, buf: make([]byte, 0, int(n)*perMsg), ends: make([]int, 0, n)}
	for range n {
		r.buf = g.message(r.buf, batch)
		r.ends = append(r.ends, len(r.buf))
	}
	return r
}

// gen makes entries with varied, JSON-safe payloads of a fixed size.
type gen struct {
	rnd     *rand.Rand
	payload int
	seq     uint64
}

func newGen(seed uint64, payload int) *gen {
	return &gen{rnd: rand.New(rand.NewPCG(seed, 0x6c6f67666c7578)), payload: payload}
}

var (
	words = []string{
		"user", "login", "request", "served", "cache", "miss", "hit", "db", "query", "took",
		"ms", "status", "ok", "retry", "upstream", "timeout", "session", "token", "refreshed",
		"order", "created", "payment", "accepted", "GET", "POST", "/api/v1/items", "worker",
		"started", "stopped", "queue", "depth", "bytes", "sent", "received", "tenant", "shard",
	}
	sources = []string{"api-gateway", "auth-service", "billing", "db-proxy", "worker", "frontend", "scheduler", "search"}
	levels  = []byte("3456777788")
)

// payloadTo appends exactly g.payload bytes of words, numbers and spaces.
func (g *gen) payloadTo(dst []byte) []byte {
	end := len(dst) + g.payload
	for len(dst) < end {
		if g.rnd.IntN(4) == 0 {
			dst = strconv.AppendUint(dst, g.rnd.Uint64N(100000), 10)
		} else {
			dst = append(dst, words[g.rnd.IntN(len(words))]...)
		}
		dst = append(dst, ' ')
	}
	return dst[:end]
}

// entryTo appends one entry object: the payload plus about 120 bytes.
func (g *gen) entryTo(dst []byte, version bool) []byte {
	g.seq++
	dst = append(dst, '{')
	if version {
		dst = append(dst, `"version":"1.0",`...)
	}
	dst = append(dst, `"payload":"`...)
	dst = g.payloadTo(dst)
	dst = append(dst, `","entryType":1,"source":"`...)
	dst = append(dst, sources[g.rnd.IntN(len(sources))]...)
	dst = append(dst, `","logLevel":`...)
	dst = append(dst, levels[g.rnd.IntN(len(levels))])
	dst = append(dst, `,"payloadType":"generic","metadata":{"seq":"`...)
	dst = strconv.AppendUint(dst, g.seq, 10)
	dst = append(dst, `"}}`...)
	return dst
}

// message appends one message line of n entries: a single entry when n is
// 1, a batch otherwise.
func (g *gen) message(dst []byte, n int) []byte {
	if n == 1 {
		dst = g.entryTo(dst, true)
		return append(dst, '\n')
	}
	dst = append(dst, `{"version":"1.0","entries":[`...)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = g.entryTo(dst, false)
	}
	return append(dst, "]}\n"...)
}

var flushLine = []byte(`{"version":"1.0","action":"flush"}` + "\n")
