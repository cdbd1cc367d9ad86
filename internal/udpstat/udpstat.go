// Package udpstat reads the kernel's figures of open UDP sockets from /proc/net/udp and /proc/net/udp6 (Linux): where each is bound, its receive queue and how many datagrams the kernel dropped for it.
package udpstat

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
)

// Socket is one line of /proc/net/udp.
type Socket struct {
	Port    int    // the local port
	Inode   uint64 // the socket's inode, as fstat reports it
	RxQueue int64  // bytes waiting to be read
	Drops   int64  // datagrams dropped, mostly for a full receive buffer
}

// ErrNotFound is Lookup's error when no socket matched.
var ErrNotFound = errors.New("udpstat: no such UDP socket in /proc/net/udp")

// procRoot is where proc is mounted (a variable for tests).
var procRoot = "/proc"

// Lookup returns the first socket that match accepts.
func Lookup(match func(Socket) bool) (Socket, error) {
	for _, name := range []string{"udp", "udp6"} {
		f, err := os.Open(procRoot + "/net/" + name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			if s, ok := parse(sc.Text()); ok && match(s) {
				f.Close()
				return s, nil
			}
		}
		f.Close()
	}
	return Socket{}, ErrNotFound
}

// parse reads "sl local_address rem_address st tx_queue:rx_queue tr:tm->when
// retrnsmt uid timeout inode ref pointer drops".
func parse(line string) (Socket, bool) {
	f := strings.Fields(line)
	if len(f) < 13 {
		return Socket{}, false
	}
	_, port, ok1 := strings.Cut(f[1], ":")
	_, rx, ok2 := strings.Cut(f[4], ":")
	p, err1 := strconv.ParseUint(port, 16, 16)
	q, err2 := strconv.ParseInt(rx, 16, 64)
	ino, err3 := strconv.ParseUint(f[9], 10, 64)
	drops, err4 := strconv.ParseInt(f[12], 10, 64)
	if !ok1 || !ok2 || errors.Join(err1, err2, err3, err4) != nil {
		return Socket{}, false
	}
	return Socket{Port: int(p), Inode: ino, RxQueue: q, Drops: drops}, true
}
