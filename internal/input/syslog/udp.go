package syslog

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/udpstat"
)

// packetReader reads a datagram socket, one or many datagrams a read.
type packetReader interface {
	// read waits for a datagram and returns how many it read (message 0
	// to n-1), or a timeout error (net.Error) once it waited as long as
	// wait last allowed, or net.ErrClosed once the socket is closed.
	read() (n int, err error)
	// message returns datagram i of the last read: its bytes (cut to
	// max_message_bytes), whether it was cut, its size as read, and the
	// sender's address ("" for Unix sockets).
	message(i int) (msg []byte, cut bool, n int, peer string)
	// wait bounds how long the next reads wait for a first datagram
	// before they return a timeout (0: no bound).
	wait(d time.Duration)
	// setMax applies a reloaded max_message_bytes (up to the size the
	// buffers were made for).
	setMax(n int)
	// caughtUp is told how many datagrams the last read took, after they
	// were handled; a reader that reads batches pauses when that was
	// fewer than a batch.
	caughtUp(n int)
}

// datagrams reads a packet socket one datagram at a time through the Go
// runtime's poller: Unix datagram sockets, and UDP where udpSocket does not
// exist (systems other than Linux).
type datagrams struct {
	pc   net.PacketConn
	buf  []byte
	n    int
	addr net.Addr
	max  int // max_message_bytes
	last netip.AddrPort
	peer string
}

var _ packetReader = (*datagrams)(nil)

func newDatagrams(pc net.PacketConn, maxMessage int) *datagrams {
	// One byte over the limit tells a longer datagram; none is over 64 KiB.
	return &datagrams{pc: pc, max: maxMessage, buf: make([]byte, min(maxMessage+1, 64<<10))}
}

func (d *datagrams) read() (int, error) {
	var err error
	d.n, d.addr, err = d.pc.ReadFrom(d.buf)
	if err != nil {
		return 0, err
	}
	return 1, nil
}

func (d *datagrams) message(int) (msg []byte, cut bool, n int, peer string) {
	if ua, ok := d.addr.(*net.UDPAddr); ok { // unixgram: no useful peer
		if ap := ua.AddrPort(); ap != d.last {
			// An IPv4 sender on a dual-stack socket shows as itself,
			// not as ::ffff:a.b.c.d.
			d.last, d.peer = ap, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
		peer = d.peer
	}
	return d.buf[:min(d.n, d.max)], d.n > d.max, d.n, peer
}

func (d *datagrams) wait(t time.Duration) {
	if t == 0 {
		d.pc.SetReadDeadline(time.Time{})
	} else {
		d.pc.SetReadDeadline(time.Now().Add(t))
	}
}

func (d *datagrams) setMax(n int) { d.max = min(n, len(d.buf)-1) }

func (d *datagrams) caughtUp(int) {}

// setReceiveBuffer asks for a socket receive buffer of size bytes: with
// SO_RCVBUFFORCE where the agent may (CAP_NET_ADMIN), which passes over
// net.core.rmem_max, else SO_RCVBUF, which the kernel caps at it. It
// returns the size the kernel granted (it counts its own overhead, so
// reports twice what was asked).
func setReceiveBuffer(pc net.PacketConn, size int) (granted int, err error) {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRcvbufForce, size); e != nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}
		granted, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if cerr != nil {
		return 0, cerr
	}
	return granted, serr
}

// socketInode is the inode number of pc's socket, which /proc/net/udp
// names it by.
func socketInode(pc net.PacketConn) uint64 {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var ino uint64
	rc.Control(func(fd uintptr) {
		var st syscall.Stat_t
		if syscall.Fstat(int(fd), &st) == nil {
			ino = st.Ino
		}
	})
	return ino
}

// kernelDrops is the count of datagrams the kernel dropped for the socket
// with inode ino because its receive buffer was full (Linux); -1 when
// unknown.
func kernelDrops(ino uint64) int64 {
	if ino == 0 {
		return -1
	}
	s, err := udpstat.Lookup(func(s udpstat.Socket) bool { return s.Inode == ino })
	if err != nil {
		return -1
	}
	return s.Drops
}

// describeBuffer says what the kernel granted of a receive buffer, for the
// log.
func describeBuffer(asked, granted int) string {
	return fmt.Sprintf("asked %d bytes, the kernel granted %d (it reports twice what it allows for data; raise net.core.rmem_max or run with CAP_NET_ADMIN for more)", asked, granted)
}
