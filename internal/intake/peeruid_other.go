//go:build !linux && !darwin

package intake

import "net"

// peerUID cannot tell the peer's user here: all Unix socket clients count
// as one peer for the per-peer limits.
func peerUID(*net.UnixConn) (int, bool) { return 0, false }
