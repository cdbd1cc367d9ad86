package agent

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// InheritedListeners returns the sockets a service manager passed with
// socket activation (systemd's LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), or
// none. The variables are cleared so that child processes do not see them.
func InheritedListeners() ([]net.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	const first = 3 // SD_LISTEN_FDS_START
	var lns []net.Listener
	for i := 0; i < n; i++ {
		fd := first + i
		syscall.CloseOnExec(fd)
		name := "fd" + strconv.Itoa(fd)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		f := os.NewFile(uintptr(fd), name)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("socket %s from the service manager: %w", name, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
