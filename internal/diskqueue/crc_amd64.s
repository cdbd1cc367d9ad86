#include "textflag.h"

// func castagnoli3(a, b, c []byte) (sa, sb, sc uint32)
//
// Runs CRC-32C over a, b and c: side by side over the shortest length
// rounded down to 8, three independent CRC32Q chains keeping the
// instruction's pipeline full where one chain waits on itself, then over
// what is left of each. The states start at 0xffffffff and are returned
// without the final inversion.
TEXT ·castagnoli3(SB), NOSPLIT, $0-84
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

side:
	CMPQ DX, AX
	JAE  rest
	CRC32Q (SI)(DX*1), R9
	CRC32Q (DI)(DX*1), R10
	CRC32Q (R8)(DX*1), R11
	ADDQ $8, DX
	JMP  side

rest:
	// What is left of a: words, then bytes.
	MOVQ a_len+8(FP), CX
	MOVQ DX, BX
a8:
	LEAQ 8(BX), R12
	CMPQ R12, CX
	JA   a1
	CRC32Q (SI)(BX*1), R9
	MOVQ R12, BX
	JMP  a8
a1:
	CMPQ BX, CX
	JAE  b
	CRC32B (SI)(BX*1), R9
	INCQ BX
	JMP  a1

b:
	MOVQ b_len+32(FP), CX
	MOVQ DX, BX
b8:
	LEAQ 8(BX), R12
	CMPQ R12, CX
	JA   b1
	CRC32Q (DI)(BX*1), R10
	MOVQ R12, BX
	JMP  b8
b1:
	CMPQ BX, CX
	JAE  c
	CRC32B (DI)(BX*1), R10
	INCQ BX
	JMP  b1

c:
	MOVQ c_len+56(FP), CX
	MOVQ DX, BX
c8:
	LEAQ 8(BX), R12
	CMPQ R12, CX
	JA   c1
	CRC32Q (R8)(BX*1), R11
	MOVQ R12, BX
	JMP  c8
c1:
	CMPQ BX, CX
	JAE  done
	CRC32B (R8)(BX*1), R11
	INCQ BX
	JMP  c1

done:
	MOVL R9, sa+72(FP)
	MOVL R10, sb+76(FP)
	MOVL R11, sc+80(FP)
	RET
