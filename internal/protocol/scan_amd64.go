package protocol

import "golang.org/x/sys/cpu"

// hasAVX2 tells whether the AVX2 functions below may run on this machine.
var hasAVX2 = cpu.X86.HasAVX2

// plainBlocksAVX2 looks at b 32 bytes at a time, whole blocks only, for the
// first byte that is '"', '\\', below 0x20 or from 0x80; it returns its
// index, or the number of bytes looked at when there is none.
//
//go:noescape
func plainBlocksAVX2(b []byte) int

// plainBlocks is plainBlocksAVX2 where the CPU has it; elsewhere it looks
// at nothing and returns 0, leaving every byte to the caller's word loop.
func plainBlocks(b []byte) int {
	if hasAVX2 {
		return plainBlocksAVX2(b)
	}
	return 0
}

// specialMaskAVX2 sets mask[k], for each whole 64-byte block k of b, to the
// bits of the block's bytes that end a plain run of string bytes ('"',
// '\\', a control character, a byte from 0x80).
//
//go:noescape
func specialMaskAVX2(b []byte, mask []uint64)

// specialMask sets mask to the bits of line's bytes that end a plain run
// of string bytes, and reports false (mask unusable) where the CPU lacks
// AVX2. mask must have a word for every 64 bytes of line, rounded up.
func specialMask(line []byte, mask []uint64) bool {
	if !hasAVX2 {
		return false
	}
	whole := len(line) &^ 63
	specialMaskAVX2(line[:whole], mask)
	if rest := len(line) - whole; rest > 0 {
		var tail [64]byte
		copy(tail[:], line[whole:])
		specialMaskAVX2(tail[:], mask[whole>>6:])
		mask[whole>>6] &= 1<<rest - 1 // the zeros past the end are not bytes of line
	}
	return true
}
