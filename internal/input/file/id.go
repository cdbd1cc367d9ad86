package file

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/logflux/agent/internal/protocol"
)

// Record ids of the file input
//
// Every record's id is normally random (UUID version 7). A file's lines get
// ids that are a function of where they are instead: a 128-bit seed chosen
// when the file is first followed (kept in the checkpoint, written before
// any record that uses it) and the offset the entry starts at. A line read
// a second time — the agent was killed after the queue had its entry but
// before the checkpoint said so — gets the same id as the first time, so a
// consumer that drops a repeated id (the Elasticsearch output's _id, the
// LogFlux service) keeps it once, as it does for the queue's redeliveries.
// A file truncated and written again gets a new seed.

// newSeed returns a random seed.
func newSeed() (s [16]byte) {
	_, _ = rand.Read(s[:])
	return s
}

// lineID writes into out the id of the entry starting at offset at (part
// n of an entry split after it was gathered, else 0): a UUID of version 8
// (custom), "xxxxxxxx-xxxx-8xxx-vxxx-xxxxxxxxxxxx".
func lineID(out *[36]byte, seed *[16]byte, at int64, part int) {
	hi := mix(binary.BigEndian.Uint64(seed[:8]) ^ uint64(at))
	lo := mix(binary.BigEndian.Uint64(seed[8:]) ^ uint64(at)*0x9e3779b97f4a7c15 ^ uint64(part)<<56 ^ uint64(part))
	hi = hi&^0xf000 | 0x8000       // version 8 (the high nibble of byte 6)
	lo = lo&^(0xc0<<56) | 0x80<<56 // variant 10 (the top bits of byte 8)
	protocol.FormatUUID(out, hi, lo)
}

// mix is SplitMix64's finaliser: a bijection of 64-bit values.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
