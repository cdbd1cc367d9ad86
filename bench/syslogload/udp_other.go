//go:build !linux

package main

import (
	"errors"
	"net"

	"golang.org/x/net/ipv4"
)

// datagramWriter sends datagrams batch at a time through the poller
// (golang.org/x/net: sendmmsg where the system has it, else one at a time).
type datagramWriter struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	ms   []ipv4.Message
	n    int
	size int
}

func newDatagramSender(hostport string, batch, size int) (datagramSender, error) {
	if gso {
		return nil, errors.New("-gso needs Linux (UDP_SEGMENT)")
	}
	c, err := net.Dial("udp", hostport)
	if err != nil {
		return nil, err
	}
	uc := c.(*net.UDPConn)
	d := &datagramWriter{conn: uc, pc: ipv4.NewPacketConn(uc), ms: make([]ipv4.Message, batch), size: size}
	for i := range d.ms {
		d.ms[i].Buffers = [][]byte{make([]byte, 0, size+16)}
	}
	return d, nil
}

func (d *datagramWriter) add(i int) error {
	m := &d.ms[d.n]
	m.Buffers[0] = message(m.Buffers[0][:0], i, d.size)
	if d.n++; d.n == len(d.ms) {
		return d.flush()
	}
	return nil
}

func (d *datagramWriter) flush() error {
	for sent := 0; sent < d.n; {
		k, err := d.pc.WriteBatch(d.ms[sent:d.n], 0)
		if err != nil {
			return err
		}
		sent += k
	}
	d.n = 0
	return nil
}

func (d *datagramWriter) close() error { return d.conn.Close() }
