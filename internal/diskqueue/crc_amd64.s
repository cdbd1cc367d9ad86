#include "textflag.h"

// REST runs crc on the bytes of the buffer at base from DX to n: words,
// then single bytes, then jumps to end (words and bytes name its loops).
#define REST(base, n, crc, words, bytes, end) \
	MOVQ n, CX \
	MOVQ DX, BX \
words: \
	LEAQ 8(BX), R12 \
	CMPQ R12, CX \
	JA   bytes \
	CRC32Q (base)(BX*1), crc \
	MOVQ R12, BX \
	JMP  words \
bytes: \
	CMPQ BX, CX \
	JAE  end \
	CRC32B (base)(BX*1), crc \
	INCQ BX \
	JMP  bytes

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
	REST(SI, a_len+8(FP), R9, a8, a1, b)
b:
	REST(DI, b_len+32(FP), R10, b8, b1, c)
c:
	REST(R8, c_len+56(FP), R11, c8, c1, done)

done:
	MOVL R9, sa+72(FP)
	MOVL R10, sb+76(FP)
	MOVL R11, sc+80(FP)
	RET
