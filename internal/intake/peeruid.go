//go:build linux || darwin

package intake

import "net"

// peerUID returns the user id of the process at the other end of a Unix
// socket connection, as the platform's fdPeerUID reads it.
func peerUID(uc *net.UnixConn) (int, bool) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	uid, ok := 0, false
	if raw.Control(func(fd uintptr) { uid, ok = fdPeerUID(int(fd)) }) != nil {
		return 0, false
	}
	return uid, ok
}
