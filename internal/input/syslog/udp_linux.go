//go:build linux

package syslog

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is a UDP socket that Go's network poller does not watch: its
// reader blocks in recvmmsg(2) itself.
//
// Why: a socket in the poller sits in the poller's epoll set, and the
// poller's set is edge-triggered, so a datagram that arrives while a
// thread of the agent waits in epoll_wait wakes that thread, and so does
// the next one once the poller has taken the first event, whether or not
// any goroutine reads the socket then. While the reader works on a batch
// or pauses to let the next one gather, the agent's idle thread was thus
// woken for nearly every datagram, and on loopback the sender's own system
// call pays for each wake-up. Outside the poller the socket has one
// waiter, the reader, and none while it works or pauses: datagrams that
// arrive then cost nobody a wake-up, and the next read takes a full batch.
type udpSocket struct {
	f      *os.File // blocking; closing it does not wait for the reader
	rc     syscall.RawConn
	closed atomic.Bool
}

// detachUDP takes pc's socket out of the poller: it duplicates the
// descriptor, closes pc (which removes the socket from the poller's epoll
// set; the duplicate keeps the socket open) and makes the duplicate
// blocking. pc is closed on return unless the duplicate could not be made.
func detachUDP(pc *net.UDPConn) (*udpSocket, error) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	pc.Close()
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "udp") // not pollable: a blocking descriptor
	frc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &udpSocket{f: f, rc: frc}, nil
}

// close wakes a reader blocked in recvmmsg (shutdown(SHUT_RD) makes it
// return) and closes the socket once that reader has left the system call.
func (s *udpSocket) close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RD) })
	s.f.Close()
}

// maxBatch is the most datagrams one read takes: with buffers of at most
// 64 KiB, 4 MiB of them (of which a short datagram touches one page).
const maxBatch = 64

// mmsgReader reads a udpSocket up to maxBatch datagrams a system call.
type mmsgReader struct {
	s     *udpSocket
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	bufs  [][]byte
	used  int            // datagrams the last read took
	max   int            // max_message_bytes
	waits time.Duration  // SO_RCVTIMEO as set
	last  netip.AddrPort // the last sender, its scope and how it is written
	scope uint32
	peer  string
	sleep unix.Timespec // gatherDelay
}

var _ packetReader = (*mmsgReader)(nil)

func (s *udpSocket) reader(maxMessage int) packetReader {
	// One byte over the limit tells a longer datagram; none is over 64 KiB.
	size := min(maxMessage+1, 64<<10)
	r := &mmsgReader{
		s: s, max: maxMessage,
		hdrs: make([]unix.Mmsghdr, maxBatch), iovs: make([]unix.Iovec, maxBatch),
		names: make([]unix.RawSockaddrInet6, maxBatch), bufs: make([][]byte, maxBatch),
		sleep: unix.NsecToTimespec(int64(gatherDelay)),
	}
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
	return r
}

// read blocks until a datagram arrives (or the wait set by wait passed),
// then takes every datagram the socket holds, up to a batch
// (MSG_WAITFORONE).
func (r *mmsgReader) read() (int, error) {
	for i := range r.used { // the kernel set each to its address's size
		r.hdrs[i].Hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
	}
	r.used = 0
	var k uintptr
	var errno syscall.Errno
	err := r.s.rc.Read(func(fd uintptr) bool {
		for {
			k, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_WAITFORONE, 0, 0)
			if errno != unix.EINTR { // a signal, with SO_RCVTIMEO set
				return true
			}
		}
	})
	switch {
	case r.s.closed.Load():
		// What shutdown woke is no datagram (a read of 0 bytes from no
		// address); what the socket still held is dropped with it.
		return 0, net.ErrClosed
	case err != nil:
		return 0, err
	case errno == unix.EAGAIN:
		return 0, os.ErrDeadlineExceeded
	case errno != 0:
		return 0, os.NewSyscallError("recvmmsg", errno)
	}
	r.used = int(k)
	return r.used, nil
}

// message returns datagram i of the last read, as datagrams.message does.
func (r *mmsgReader) message(i int) (msg []byte, cut bool, n int, peer string) {
	h := &r.hdrs[i]
	n = int(h.Len)
	if ap, scope, ok := sockaddrAddrPort(&r.names[i], h.Hdr.Namelen); ok {
		if ap != r.last || scope != r.scope {
			r.last, r.scope = ap, scope
			if scope != 0 && ap.Addr().Is6() { // a link-local sender
				ap = netip.AddrPortFrom(ap.Addr().WithZone(zoneName(int(scope))), ap.Port())
			}
			r.peer = ap.String()
		}
		peer = r.peer
	}
	return r.bufs[i][:min(n, r.max)], n > r.max, n, peer
}

// sockaddrAddrPort reads an AF_INET or AF_INET6 address of size bytes, and
// an IPv6 address's scope (its zone's interface index). An IPv4 sender on a
// dual-stack socket shows as itself, not as ::ffff:a.b.c.d.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, size uint32) (ap netip.AddrPort, scope uint32, ok bool) {
	switch {
	case sa.Family == unix.AF_INET && size >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(&sa4.Port)), 0, true
	case sa.Family == unix.AF_INET6 && size >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port(&sa.Port)), sa.Scope_id, true
	}
	return netip.AddrPort{}, 0, false
}

// port reads a sockaddr's port (in network byte order).
func port(p *uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])
}

// zoneName is the interface name of a link-local address's scope.
func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return ""
}

func (r *mmsgReader) setMax(n int) { r.max = min(n, len(r.bufs[0])-1) }

// wait sets SO_RCVTIMEO, when it changes: a read that waited d for a first
// datagram returns a timeout (0: it waits for one).
func (r *mmsgReader) wait(d time.Duration) {
	if d == r.waits {
		return
	}
	r.waits = d
	tv := unix.NsecToTimeval(d.Nanoseconds())
	r.s.rc.Control(func(fd uintptr) { unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) })
}

// caughtUp pauses for gatherDelay after a read that emptied the socket, so
// that the next read takes a batch instead of waking for each datagram. It
// sleeps in the system call, not on a Go timer: the runtime's timers wake
// through epoll_wait, whose timeout is counted in whole milliseconds.
func (r *mmsgReader) caughtUp(k int) {
	if k < len(r.hdrs) {
		unix.Nanosleep(&r.sleep, nil)
	}
}
