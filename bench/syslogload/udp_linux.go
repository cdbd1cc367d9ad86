//go:build linux

package main

import (
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSender sends datagrams on a connected, blocking socket outside the Go
// runtime's poller: one send(2) each, or batch at a time with sendmmsg(2),
// or (gso) batch at a time as one buffer the kernel cuts into datagrams.
type rawSender struct {
	gso  []byte // the batch's messages end to end, with -gso
	fd   int
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	bufs [][]byte
	n    int
	size int
}

func newDatagramSender(hostport string, batch, size int) (datagramSender, error) {
	ua, err := net.ResolveUDPAddr("udp", hostport)
	if err != nil {
		return nil, err
	}
	ap := ua.AddrPort()
	var sa unix.Sockaddr
	family := unix.AF_INET
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	if gso {
		// Every datagram of a send is size bytes (the last may be shorter).
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, size); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt UDP_SEGMENT", err)
		}
	}
	s := &rawSender{fd: fd, size: size, hdrs: make([]unix.Mmsghdr, batch), iovs: make([]unix.Iovec, batch), bufs: make([][]byte, batch)}
	for i := range s.hdrs {
		s.bufs[i] = make([]byte, 0, size+16)
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
	}
	return s, nil
}

func (s *rawSender) add(i int) error {
	s.bufs[s.n] = message(s.bufs[s.n][:0], i, s.size)
	if s.n++; s.n == len(s.hdrs) {
		return s.flush()
	}
	return nil
}

func (s *rawSender) flush() error {
	if gso && s.n > 1 {
		s.gso = s.gso[:0]
		for _, b := range s.bufs[:s.n] {
			s.gso = append(s.gso, b...)
		}
		s.n = 0
		for {
			_, err := unix.Write(s.fd, s.gso)
			if err != unix.EINTR {
				return os.NewSyscallError("send", err) // nil when err is
			}
		}
	}
	if s.n == 1 {
		s.n = 0
		for {
			_, err := unix.Write(s.fd, s.bufs[0])
			if err != unix.EINTR {
				return os.NewSyscallError("send", err) // nil when err is
			}
		}
	}
	for i := range s.n {
		s.iovs[i].Base = &s.bufs[i][0]
		s.iovs[i].SetLen(len(s.bufs[i]))
	}
	for sent := 0; sent < s.n; {
		k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.hdrs[sent])), uintptr(s.n-sent), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return os.NewSyscallError("sendmmsg", e)
		}
		sent += int(k)
	}
	s.n = 0
	return nil
}

func (s *rawSender) close() error { return unix.Close(s.fd) }
