#include "textflag.h"

// func castagnoli3(a, b, c []byte) (n int, sa, sb, sc uint32)
//
// Runs CRC-32C over the first n bytes of a, b and c side by side, n being
// the shortest length rounded down to 8: three independent CRC32Q chains
// keep the instruction's pipeline full where one chain waits on itself.
// The states start at 0xffffffff and are returned without the final
// inversion.
TEXT ·castagnoli3(SB), NOSPLIT, $0-92
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), AX
	MOVQ b_base+24(FP), DI
	MOVQ b_len+32(FP), BX
	MOVQ c_base+48(FP), R8
	MOVQ c_len+56(FP), CX
	CMPQ BX, AX
	CMOVQLT BX, AX
	CMPQ CX, AX
	CMOVQLT CX, AX
	ANDQ $-8, AX
	MOVL $0xffffffff, R9
	MOVL $0xffffffff, R10
	MOVL $0xffffffff, R11
	XORQ DX, DX

loop:
	CMPQ DX, AX
	JAE  done
	CRC32Q (SI)(DX*1), R9
	CRC32Q (DI)(DX*1), R10
	CRC32Q (R8)(DX*1), R11
	ADDQ $8, DX
	JMP  loop

done:
	MOVQ AX, n+72(FP)
	MOVL R9, sa+80(FP)
	MOVL R10, sb+84(FP)
	MOVL R11, sc+88(FP)
	RET
