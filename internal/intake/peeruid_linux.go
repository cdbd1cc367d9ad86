package intake

import "syscall"

// fdPeerUID reads the peer's user id with SO_PEERCRED.
func fdPeerUID(fd int) (int, bool) {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return 0, false
	}
	return int(cred.Uid), true
}
