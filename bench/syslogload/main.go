// Command syslogload sends generated RFC 5424 syslog messages of about 200
// bytes over TCP (newline framing, or octet counting) or UDP as fast as it
// can or at a given rate, for bench/compare-io.sh. It prints what it sent and
// how long that took.
//
// With -wait FILE it then waits until the agent's file output FILE holds
// the COUNT new lines (for UDP, until lines stop arriving for -idle) and
// prints the end-to-end rate, the agent's CPU time per message when -pid
// names it, and for UDP the datagrams the kernel dropped at the receiving
// socket (/proc/net/udp).
//
//	syslogload -addr tcp://127.0.0.1:5514 -count N [-rate PER-SECOND] [-octet-counting]
//	    [-wait FILE [-idle 3s] [-pid PID]]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
)

func main() {
	addr := flag.String("addr", "", "tcp://HOST:PORT or udp://HOST:PORT")
	count := flag.Int("count", 100000, "messages to send")
	rate := flag.Int("rate", 0, "messages per second (0: as fast as possible)")
	octet := flag.Bool("octet-counting", false, "TCP: frame as LEN SP MSG (RFC 6587) instead of MSG LF")
	size := flag.Int("size", 200, "bytes per message, framing excluded")
	wait := flag.String("wait", "", "the agent's file output: wait until it holds the messages sent")
	idle := flag.Duration("idle", 3*time.Second, "with -wait over UDP: stop once no line arrived for this long")
	pid := flag.Int("pid", 0, "with -wait: the agent's process, to report its CPU time per message")
	batch := flag.Int("batch", 1, "UDP: datagrams per system call (sendmmsg); 1 sends each on its own, as most senders do")
	flag.Parse()
	network, hostport, ok := strings.Cut(*addr, "://")
	if !ok || (network != "tcp" && network != "udp") || *count <= 0 || *size < 100 {
		fmt.Fprintln(os.Stderr, "usage: syslogload -addr tcp://HOST:PORT|udp://HOST:PORT -count N [-rate R] [-octet-counting] [-size BYTES>=100]")
		os.Exit(2)
	}
	var w *waiter
	if *wait != "" {
		w = startWait(*wait, int64(*count), network, *idle, *pid)
	}
	took, err := send(network, hostport, *count, *rate, *size, *octet, max(1, *batch))
	if err != nil {
		fmt.Fprintln(os.Stderr, "syslogload:", err)
		os.Exit(1)
	}
	fmt.Printf("sent %d messages over %s in %.3f s: %.0f messages/s\n", *count, network, took.Seconds(), float64(*count)/took.Seconds())
	if w != nil {
		if err := w.report(os.Stdout, hostport); err != nil {
			fmt.Fprintln(os.Stderr, "syslogload:", err)
			os.Exit(1)
		}
	}
}

// message appends message i: RFC 5424 with a fixed header and a body padded
// to size bytes in all.
func message(dst []byte, i, size int) []byte {
	start := len(dst)
	dst = append(dst, "<134>1 2026-12-07T03:20:00.123456Z bench-host app "...)
	dst = strconv.AppendInt(dst, int64(1000+i%9000), 10)
	dst = append(dst, " ID47 - request "...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, " served status 200 bytes 5120 took 12ms user alice path /api/v1/items "...)
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst[:start+size]
}

func send(network, hostport string, count, rate, size int, octet bool, batch int) (time.Duration, error) {
	conn, err := net.Dial(network, hostport)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var w *bufio.Writer
	var d *datagramWriter
	if network == "tcp" {
		w = bufio.NewWriterSize(conn, 256<<10)
	} else {
		d = newDatagramWriter(conn.(*net.UDPConn), batch, size)
	}
	msg := make([]byte, 0, size+16)
	start := time.Now()
	for i := 0; i < count; i++ {
		if rate > 0 && i%100 == 0 {
			// Paced in steps of 100 messages.
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				if w != nil {
					if err := w.Flush(); err != nil {
						return 0, err
					}
				}
				if d != nil {
					if err := d.flush(); err != nil {
						return 0, err
					}
				}
				time.Sleep(wait)
			}
		}
		if d != nil {
			if err := d.add(i); err != nil {
				return 0, err
			}
			continue
		}
		msg = message(msg[:0], i, size)
		if octet {
			w.WriteString(strconv.Itoa(len(msg)))
			w.WriteByte(' ')
			w.Write(msg)
		} else {
			w.Write(msg)
			w.WriteByte('\n')
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	if d != nil {
		if err := d.flush(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// datagramWriter sends datagrams batch at a time (sendmmsg on Linux).
type datagramWriter struct {
	pc   *ipv4.PacketConn
	ms   []ipv4.Message
	n    int
	size int
}

func newDatagramWriter(c *net.UDPConn, batch, size int) *datagramWriter {
	d := &datagramWriter{pc: ipv4.NewPacketConn(c), ms: make([]ipv4.Message, batch), size: size}
	for i := range d.ms {
		d.ms[i].Buffers = [][]byte{make([]byte, 0, size+16)}
	}
	return d
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
