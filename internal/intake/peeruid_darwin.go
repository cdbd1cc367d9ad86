package intake

import "golang.org/x/sys/unix"

// fdPeerUID reads the peer's user id with LOCAL_PEERCRED.
func fdPeerUID(fd int) (int, bool) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, false
	}
	return int(cred.Uid), true
}
