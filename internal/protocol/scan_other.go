//go:build !amd64

package protocol

// plainBlocks looks at nothing on this architecture: the caller's word loop
// reads every byte.
func plainBlocks(b []byte) int { return 0 }

const hasAVX2 = false

// specialMask is not available here: the callers scan strings word by word.
func specialMask(line []byte, mask []uint64) bool { return false }
