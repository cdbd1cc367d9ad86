//go:build !linux

package syslog

import "net"

// udpSocket exists on Linux only (udp_linux.go); elsewhere UDP is read
// through the poller, one datagram at a time (datagrams).
type udpSocket struct{}

// detachUDP leaves pc as it is: the caller reads it with datagrams.
func detachUDP(*net.UDPConn) (*udpSocket, error) { return nil, nil }

func (*udpSocket) close() {}

func (*udpSocket) reader(int) packetReader { return nil }
