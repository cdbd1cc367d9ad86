//go:build !amd64

package protocol

// withoutAVX2 runs f: this CPU takes the word-at-a-time paths anyway.
func withoutAVX2(f func()) { f() }
