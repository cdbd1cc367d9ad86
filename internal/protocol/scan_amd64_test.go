package protocol

// withoutAVX2 runs f as on a CPU without AVX2: the word-at-a-time paths
// other CPUs take. Not for parallel tests.
func withoutAVX2(f func()) {
	saved := hasAVX2
	hasAVX2 = false
	defer func() { hasAVX2 = saved }()
	f()
}
