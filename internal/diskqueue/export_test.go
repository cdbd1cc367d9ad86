package diskqueue

// Names for the external tests, which build on-disk states by hand.
const HeaderSize = headerSize

var (
	SegFile = segFile
	PosFile = posFile
)

// SpareCount returns how many spare segment files q may write over now.
func SpareCount(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.spares)
}
