package diskqueue

// Names for the external tests, which build on-disk states by hand.
const HeaderSize = headerSize

var (
	SegFile = segFile
	PosFile = posFile
)
