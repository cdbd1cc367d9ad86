package syslog

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/logflux/agent/internal/udpstat"
)

// datagrams reads a packet socket several datagrams a system call where the
// system has one for it (recvmmsg on Linux, through golang.org/x/net), one
// at a time elsewhere and on Unix sockets: at a few hundred thousand
// datagrams a second the system call, not the parse, is most of the cost.
type datagrams struct {
	pc    net.PacketConn
	batch interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	ms   []ipv4.Message // ipv4.Message and ipv6.Message are the same type
	max  int            // max_message_bytes
	last netip.AddrPort
	peer string
}

// batchBytes bounds the buffers of one batch read.
const batchBytes = 2 << 20

func newDatagrams(pc net.PacketConn, maxMessage int) *datagrams {
	d := &datagrams{pc: pc, max: maxMessage}
	// One byte over the limit tells a longer datagram; none is over 64 KiB.
	size := min(maxMessage+1, 64<<10)
	n := 1
	if uc, ok := pc.(*net.UDPConn); ok {
		n = max(1, min(64, batchBytes/size))
		if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
			d.batch = ipv6.NewPacketConn(uc)
		} else {
			d.batch = ipv4.NewPacketConn(uc)
		}
	}
	d.ms = make([]ipv4.Message, n)
	for i := range d.ms {
		d.ms[i].Buffers = [][]byte{make([]byte, size)}
	}
	return d
}

// read reads one or more datagrams; message i of them is d.message(i).
func (d *datagrams) read() (int, error) {
	if d.batch == nil {
		n, _, err := d.pc.ReadFrom(d.ms[0].Buffers[0]) // unixgram: no useful peer
		d.ms[0].N, d.ms[0].Addr = n, nil
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	return d.batch.ReadBatch(d.ms, 0)
}

// message returns datagram i of the last read: its bytes (cut to
// max_message_bytes), whether it was cut, its size as read, and the
// sender's address ("" for Unix sockets).
func (d *datagrams) message(i int) (msg []byte, cut bool, n int, peer string) {
	m := &d.ms[i]
	n = m.N
	if ua, ok := m.Addr.(*net.UDPAddr); ok {
		if ap := ua.AddrPort(); ap != d.last {
			// An IPv4 sender on a dual-stack socket shows as itself,
			// not as ::ffff:a.b.c.d.
			d.last, d.peer = ap, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
		peer = d.peer
	}
	return m.Buffers[0][:min(n, d.max)], n > d.max, n, peer
}

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
