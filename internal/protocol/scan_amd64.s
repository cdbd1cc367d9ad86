#include "textflag.h"

DATA plainConsts<>+0(SB)/1, $0x22
DATA plainConsts<>+1(SB)/1, $0x5c
DATA plainConsts<>+2(SB)/1, $0x20
GLOBL plainConsts<>(SB), RODATA|NOPTR, $4

// func plainBlocksAVX2(b []byte) int
//
// Looks at b 32 bytes at a time, whole blocks only, for the first byte that
// is '"', '\\', below 0x20 or from 0x80: returns its index, or the number of
// bytes looked at (len(b) rounded down to 32) when there is none.
TEXT ·plainBlocksAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	VPBROADCASTB plainConsts<>+0(SB), Y1 // '"'
	VPBROADCASTB plainConsts<>+1(SB), Y3 // '\\'
	VPBROADCASTB plainConsts<>+2(SB), Y5 // 0x20: as signed bytes, 0x20 > x for x < 0x20 and x >= 0x80

loop:
	SUBQ $32, CX
	JB   none
	VMOVDQU   (SI)(AX*1), Y0
	VPCMPEQB  Y0, Y1, Y2
	VPCMPEQB  Y0, Y3, Y4
	VPCMPGTB  Y0, Y5, Y6
	VPOR      Y2, Y4, Y2
	VPOR      Y2, Y6, Y2
	VPMOVMSKB Y2, DX
	TESTL     DX, DX
	JNZ       found
	ADDQ      $32, AX
	JMP       loop

found:
	BSFL DX, DX
	ADDQ DX, AX

none:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func specialMaskAVX2(b []byte, mask []uint64)
//
// For each whole 64-byte block k of b, sets mask[k] to the bits of its
// bytes that are '"', '\\', below 0x20 or from 0x80 (bit j for byte j).
// mask must have a word for every whole block.
TEXT ·specialMaskAVX2(SB), NOSPLIT, $0-48
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ mask_base+24(FP), DI
	VPBROADCASTB plainConsts<>+0(SB), Y1 // '"'
	VPBROADCASTB plainConsts<>+1(SB), Y3 // '\\'
	VPBROADCASTB plainConsts<>+2(SB), Y5 // 0x20, compared as signed bytes

mloop:
	SUBQ $64, CX
	JB   mdone
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y7
	VPCMPEQB  Y0, Y1, Y2
	VPCMPEQB  Y0, Y3, Y4
	VPCMPGTB  Y0, Y5, Y6
	VPOR      Y2, Y4, Y2
	VPOR      Y2, Y6, Y2
	VPMOVMSKB Y2, AX
	VPCMPEQB  Y7, Y1, Y8
	VPCMPEQB  Y7, Y3, Y9
	VPCMPGTB  Y7, Y5, Y10
	VPOR      Y8, Y9, Y8
	VPOR      Y8, Y10, Y8
	VPMOVMSKB Y8, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (DI)
	ADDQ      $64, SI
	ADDQ      $8, DI
	JMP       mloop

mdone:
	VZEROUPPER
	RET
