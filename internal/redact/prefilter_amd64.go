package redact

import "golang.org/x/sys/cpu"

// hasAVX2 tells whether scanAVX2 may run on this machine (every CPU with
// AVX2 has POPCNT and BMI2 too, but they are asked).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT && cpu.X86.HasBMI2

// scanAVX2 returns the anchor bits of p, of at least 32 bytes, looking at
// 32 bytes at a time (prefilter_amd64.s).
//
//go:noescape
func scanAVX2(p []byte) uint16
