package intake

// SetSplitMinBytes changes the read size from which lines are decoded on two
// goroutines, and returns a function that restores it.
func SetSplitMinBytes(n int) (restore func()) {
	old := splitMinBytes
	splitMinBytes = n
	return func() { splitMinBytes = old }
}

// Splits counts the reads whose lines were shared out.
func (s *Server) Splits() int64 { return s.splits.Load() }
