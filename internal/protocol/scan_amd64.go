package protocol

import "golang.org/x/sys/cpu"

// hasAVX2 tells whether plainBlocksAVX2 may run on this machine.
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
