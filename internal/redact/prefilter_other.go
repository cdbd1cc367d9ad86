//go:build !amd64

package redact

// scanAVX2 is never called here (hasAVX2 is false).
func scanAVX2(p []byte) uint16 { return anchorsNarrow(p) }

const hasAVX2 = false
