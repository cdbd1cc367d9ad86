package intake

import (
	"net"
	"syscall"
)

// peerPID returns the process id of the client at the other end of a Unix
// socket (as it was when it connected).
func peerPID(uc *net.UnixConn) (int, bool) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	pid, ok := 0, false
	raw.Control(func(fd uintptr) {
		cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err == nil && cred.Pid > 0 {
			pid, ok = int(cred.Pid), true
		}
	})
	return pid, ok
}
