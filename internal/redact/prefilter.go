package redact

// The prefilter: one pass over a text sets a bit for each anchor it holds,
// and a detector none of whose anchors is present is not run at all (most
// lines hold few of them). On amd64 with AVX2 the pass looks at 32 bytes
// at a time (prefilter_amd64.s) and is more selective: bearer's anchor is
// a 'b' followed by an 'e' (either case), and card's is the beginning of a
// card: 13 digits in a row, "DDDD DDDD DDDD D" or "DDDD DDDDDD DDDD" (D a
// digit, ' ' a ' ' or '-'), which every card findCard accepts begins with.
// Elsewhere, and for texts under 32 bytes, a byte-at-a-time pass
// sets bearer's bit for any 'b' and card's for any text of 13 bytes or
// more: an anchor bit may be set needlessly, never missed (TestPrefilterSound,
// FuzzRedact).

// Anchor bits; the order of the first eight is that of scanAVX2's result.
const (
	aAt    uint16 = 1 << iota // '@'
	aKV                       // '=', ':'
	aUnder                    // '_'
	aDash                     // '-'
	aDot                      // '.'
	aJ                        // 'J'
	aA                        // 'A'
	aB                        // "be" in any case ('B', 'b' byte at a time)
	aCard                     // a card may begin here (13 bytes or more, byte at a time)
)

// wideText is the length from which the wide pass is used (it needs 32
// bytes, and below them its fixed cost is more than the byte-at-a-time
// loop's).
const wideText = 32

// anchors returns the anchor bits of p.
func anchors(p []byte) uint16 {
	switch {
	case len(p) < wideText:
		return anchorsShort(p)
	case hasAVX2:
		return scanAVX2(p)
	}
	return anchorsNarrow(p)
}

var anchorTable = func() (t [256]uint16) {
	for c, a := range map[byte]uint16{'@': aAt, '=': aKV, ':': aKV, '_': aUnder, '-': aDash, '.': aDot, 'J': aJ, 'A': aA, 'B': aB, 'b': aB} {
		t[c] = a
	}
	return t
}()

// anchorsShort is anchorsNarrow for texts under wideText bytes (most
// metadata values), small enough to be inlined where it is called.
func anchorsShort(p []byte) uint16 {
	var m uint16
	if len(p) >= 13 { // card's minimum length
		m = aCard
	}
	for ; len(p) >= 2; p = p[2:] {
		m |= anchorTable[p[0]] | anchorTable[p[1]]
	}
	if len(p) == 1 {
		m |= anchorTable[p[0]]
	}
	return m
}

// anchorsNarrow is anchors a byte at a time.
func anchorsNarrow(p []byte) uint16 {
	var m0, m1, m2, m3 uint16
	if len(p) >= 13 { // card's minimum length
		m0 = aCard
	}
	for len(p) >= 4 {
		m0 |= anchorTable[p[0]]
		m1 |= anchorTable[p[1]]
		m2 |= anchorTable[p[2]]
		m3 |= anchorTable[p[3]]
		p = p[4:]
	}
	for _, c := range p {
		m0 |= anchorTable[c]
	}
	return m0 | m1 | m2 | m3
}
