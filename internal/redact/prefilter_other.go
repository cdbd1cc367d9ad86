//go:build !amd64

package redact

// anchorsWide is anchorsNarrow on this architecture.
func anchorsWide(p []byte) uint16 { return anchorsNarrow(p) }

const hasAVX2 = false
