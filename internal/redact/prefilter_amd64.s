#include "textflag.h"

// The nibble tables of the anchor classes (see prefilter.go): a byte's
// classes are loTable[low nibble] & hiTable[high nibble]. Bits: 0 '@',
// 1 '=' ':', 2 '_', 3 '-', 4 '.', 5 'J', 6 'A', 7 digits.
DATA loTable<>+0x00(SB)/1, $0x81 // '@', '0'
DATA loTable<>+0x01(SB)/1, $0xc0 // 'A', '1'
DATA loTable<>+0x02(SB)/1, $0x80 // '2'
DATA loTable<>+0x03(SB)/1, $0x80 // '3'
DATA loTable<>+0x04(SB)/1, $0x80 // '4'
DATA loTable<>+0x05(SB)/1, $0x80 // '5'
DATA loTable<>+0x06(SB)/1, $0x80 // '6'
DATA loTable<>+0x07(SB)/1, $0x80 // '7'
DATA loTable<>+0x08(SB)/1, $0x80 // '8'
DATA loTable<>+0x09(SB)/1, $0x80 // '9'
DATA loTable<>+0x0a(SB)/1, $0x22 // ':' 'J'
DATA loTable<>+0x0b(SB)/1, $0x00
DATA loTable<>+0x0c(SB)/1, $0x00
DATA loTable<>+0x0d(SB)/1, $0x0a // '=' '-'
DATA loTable<>+0x0e(SB)/1, $0x10 // '.'
DATA loTable<>+0x0f(SB)/1, $0x04 // '_'
GLOBL loTable<>(SB), RODATA|NOPTR, $16

DATA hiTable<>+0x00(SB)/1, $0x00
DATA hiTable<>+0x01(SB)/1, $0x00
DATA hiTable<>+0x02(SB)/1, $0x18 // 0x2_: '-' '.'
DATA hiTable<>+0x03(SB)/1, $0x82 // 0x3_: ':' '=', digits
DATA hiTable<>+0x04(SB)/1, $0x61 // 0x4_: '@' 'A' 'J'
DATA hiTable<>+0x05(SB)/1, $0x04 // 0x5_: '_'
DATA hiTable<>+0x06(SB)/1, $0x00
DATA hiTable<>+0x07(SB)/1, $0x00
DATA hiTable<>+0x08(SB)/1, $0x00
DATA hiTable<>+0x09(SB)/1, $0x00
DATA hiTable<>+0x0a(SB)/1, $0x00
DATA hiTable<>+0x0b(SB)/1, $0x00
DATA hiTable<>+0x0c(SB)/1, $0x00
DATA hiTable<>+0x0d(SB)/1, $0x00
DATA hiTable<>+0x0e(SB)/1, $0x00
DATA hiTable<>+0x0f(SB)/1, $0x00
GLOBL hiTable<>(SB), RODATA|NOPTR, $16

DATA byteConsts<>+0(SB)/1, $0x0f
DATA byteConsts<>+1(SB)/1, $0x20 // the case bit, and ' '
DATA byteConsts<>+2(SB)/1, $0x62 // 'b'
DATA byteConsts<>+3(SB)/1, $0x65 // 'e'
DATA byteConsts<>+4(SB)/1, $0x2d // '-'
GLOBL byteConsts<>(SB), RODATA|NOPTR, $8

// BLOCK reads the 32 bytes at (SI): their anchor classes are added to Y4,
// and their masks are set: 'b' or 'B' (AX), 'e' or 'E' (BX), digits (DX),
// ' ' or '-' (R13).
#define BLOCK \
	VMOVDQU   (SI), Y0     \
	VPSRLW    $4, Y0, Y2   \
	VPAND     Y13, Y2, Y2  \
	VPAND     Y13, Y0, Y3  \
	VPSHUFB   Y2, Y14, Y2  \
	VPSHUFB   Y3, Y15, Y3  \
	VPAND     Y2, Y3, Y2   \
	VPOR      Y2, Y4, Y4   \
	VPMOVMSKB Y2, DX       \
	VPOR      Y12, Y0, Y5  \
	VPCMPEQB  Y11, Y5, Y6  \
	VPMOVMSKB Y6, AX       \
	VPCMPEQB  Y10, Y5, Y6  \
	VPMOVMSKB Y6, BX       \
	VPCMPEQB  Y12, Y0, Y5  \
	VPCMPEQB  Y1, Y0, Y6   \
	VPOR      Y5, Y6, Y6   \
	VPMOVMSKB Y6, R13

// BE adds to R9 the "be" pairs of the block whose 'b' and 'e' masks are
// in AX and BX: the 'b' masks moved up a byte (with the previous block's
// last byte's, kept in R8, in bit 0), and the 'e' masks.
#define BE \
	LEAQ (R8)(AX*2), R12 \
	ANDL BX, R12         \
	ORL  R12, R9         \
	MOVL AX, R8          \
	SHRL $31, R8

// CARD moves the block whose digits and separators are in DX and R13 into
// the window R10 (digits) and CX (separators): the previous block in bits
// 0-31, this one in bits 32-63. It then adds to R11 the cards that may
// begin in the previous block. Every card the detector accepts begins
// with 13 digits in a row, or is grouped 4-4-4-x (it begins
// "DDDD DDDD DDDD D") or 4-6-x (it begins "DDDD DDDDDD DDDD"), D a digit
// and ' ' a separator (' ', '-'): at most 16 bytes, so one that begins in
// the previous block lies in the window's first 47 bytes, which must then
// hold 13 digits or more (on a line of words and numbers, one window in
// five does; JB 29(PC) jumps past the 28 instructions after it). A match
// at bit j reads bit j+k of each mask rotated right by k (k <= 15), which
// is exact for j < 32, the only bits kept. In AX the bits where 2 digits
// begin (D2), BX 4 digits (D4), R12 "DDDD DDDD" (X), DX the cards: 13
// digits are D4, D4 moved by 4 and that moved by 5; "DDDD DDDD DDDD D" is
// X, X moved by 5, a separator at 14 and a digit at 15; "DDDD DDDDDD DDDD"
// is X, D2 at 9, a separator at 11 and D4 at 12. Uses AX, BX, DX, R12
// and R13.
#define CARD \
	SHRQ    $32, R10      \
	SHLQ    $32, DX       \
	ORQ     DX, R10       \
	SHRQ    $32, CX       \
	SHLQ    $32, R13      \
	ORQ     R13, CX       \
	MOVQ    R10, R12      \
	SHLQ    $17, R12      \
	POPCNTQ R12, R12      \
	CMPQ    R12, $13      \
	JB      29(PC)        \
	RORXQ   $1, R10, AX   \
	ANDQ    R10, AX       \
	RORXQ   $2, AX, BX    \
	ANDQ    AX, BX        \
	RORXQ   $4, BX, DX    \
	ANDQ    BX, DX        \
	RORXQ   $5, DX, R12   \
	ANDQ    R12, DX       \
	RORXQ   $4, CX, R12   \
	ANDQ    BX, R12       \
	RORXQ   $5, BX, R13   \
	ANDQ    R13, R12      \
	RORXQ   $9, AX, AX    \
	ANDQ    R12, AX       \
	RORXQ   $11, CX, R13  \
	ANDQ    R13, AX       \
	RORXQ   $12, BX, R13  \
	ANDQ    R13, AX       \
	ORQ     AX, DX        \
	RORXQ   $5, R12, R13  \
	ANDQ    R13, R12      \
	RORXQ   $14, CX, R13  \
	ANDQ    R13, R12      \
	RORXQ   $15, R10, R13 \
	ANDQ    R13, R12      \
	ORQ     R12, DX       \
	MOVL    DX, DX        \
	ORQ     DX, R11

// func scanAVX2(p []byte) uint16
//
// Returns the anchor bits of p (len(p) >= 32): the anchor classes present
// (bits 0-6), bit 7 when a 'b' or 'B' is followed by an 'e' or 'E', bit 8
// when p may hold a card: 13 digits in a row, "DDDD DDDD DDDD D" or
// "DDDD DDDDDD DDDD" (D a digit, ' ' a ' ' or '-'). p is read 32 bytes at
// a time; when its length is not a multiple of 32, the last block read is
// its last 32 bytes, and the bytes already seen are shifted out of that
// block's masks. Needs AVX2, BMI2 and POPCNT.
TEXT ·scanAVX2(SB), NOSPLIT, $0-26
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), DI
	LEAQ -32(SI)(DI*1), DI // the last 32 bytes of p
	XORL R8, R8            // 'b' at the previous block's last byte (bit 0)
	XORL R9, R9            // "be" pairs
	XORQ R10, R10          // digits of the previous block and this one (the window's)
	XORQ CX, CX            // separators, likewise
	XORQ R11, R11          // beginnings of cards
	VBROADCASTI128 loTable<>(SB), Y15
	VBROADCASTI128 hiTable<>(SB), Y14
	VPBROADCASTB byteConsts<>+0(SB), Y13
	VPBROADCASTB byteConsts<>+1(SB), Y12
	VPBROADCASTB byteConsts<>+2(SB), Y11
	VPBROADCASTB byteConsts<>+3(SB), Y10
	VPBROADCASTB byteConsts<>+4(SB), Y1
	VPXOR Y4, Y4, Y4 // anchor classes

loop:
	CMPQ SI, DI
	JA   tail
	BLOCK
	ADDQ $32, SI
	BE
	CARD
	JMP  loop

tail:
	// SI is past the last whole block: the last 32 bytes, with the
	// SI-DI bytes already seen shifted out of the masks (none left when
	// SI-DI is 32).
	MOVQ SI, R12
	SUBQ DI, R12
	CMPQ R12, $32
	JAE  last
	MOVQ  DI, SI
	BLOCK
	SHRXL R12, AX, AX
	SHRXL R12, BX, BX
	SHRXL R12, DX, DX
	SHRXL R12, R13, R13
	BE
	CARD

last:
	// The cards that may begin in the last block: an empty block after it.
	XORL DX, DX
	XORL R13, R13
	CARD

	VEXTRACTI128 $1, Y4, X2
	VPOR         X2, X4, X4
	VPSRLDQ      $8, X4, X2
	VPOR         X2, X4, X4
	VPSRLDQ      $4, X4, X2
	VPOR         X2, X4, X4
	VPSRLDQ      $2, X4, X2
	VPOR         X2, X4, X4
	VPSRLDQ      $1, X4, X2
	VPOR         X2, X4, X4
	VMOVD        X4, AX
	ANDL         $0x7f, AX
	TESTL        R9, R9
	JZ           nobe
	ORL          $0x80, AX

nobe:
	TESTQ R11, R11
	JZ    nocard
	ORL   $0x100, AX

nocard:
	VZEROUPPER
	MOVW AX, ret+24(FP)
	RET
