// Command syslogload sends generated RFC 5424 syslog messages of about 200
// bytes over TCP (newline framing, or octet counting) or UDP as fast as it
// can or at a given rate, for bench/syslog.sh and bench/compare-io.sh. It
// prints what it sent and how long that took.
//
// With -senders N, N senders (each its own socket or connection, on its own
// goroutine) send COUNT/N messages each, at RATE/N each: the many processes
// that log to one syslog server, where one sender's own system calls would
// be the limit.
//
// On Linux a UDP sender writes to a blocking socket that the Go runtime's
// poller does not watch, as a C program's (libc's syslog(3), logger(1))
// is: a socket in the poller has its epoll entry woken by every datagram
// sent (the send buffer's space comes back at once on loopback), which cost
// this sender a fifth of its time.
//
// With -wait FILE it then waits until the agent's file output FILE holds
// the COUNT new lines (for UDP, until lines stop arriving for -idle) and
// prints the end-to-end rate, the agent's CPU time per message when -pid
// names it, and for UDP the datagrams the kernel dropped at the receiving
// socket (/proc/net/udp).
//
//	syslogload -addr tcp://127.0.0.1:5514 -count N [-rate PER-SECOND] [-octet-counting]
//	    [-batch N] [-senders N] [-wait FILE [-idle 3s] [-pid PID]]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
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
	flag.BoolVar(&gso, "gso", false, "UDP (Linux): send each batch of -batch messages with one send(2), cut into its datagrams by the kernel (UDP_SEGMENT): the agent receives the same datagrams, and the sender spends far less CPU")
	senders := flag.Int("senders", 1, "senders at once, each with its own socket, sending count/senders messages at rate/senders")
	flag.Parse()
	network, hostport, ok := strings.Cut(*addr, "://")
	if !ok || (network != "tcp" && network != "udp") || *count <= 0 || *size < 100 || *senders < 1 || *senders > *count {
		fmt.Fprintln(os.Stderr, "usage: syslogload -addr tcp://HOST:PORT|udp://HOST:PORT -count N [-rate R] [-octet-counting] [-size BYTES>=100] [-batch N [-gso]] [-senders N<=COUNT]")
		os.Exit(2)
	}
	var w *waiter
	if *wait != "" {
		w = startWait(*wait, int64(*count), network, *idle, *pid)
	}
	took, err := sendAll(network, hostport, *count, *rate, *size, *octet, max(1, *batch), *senders)
	if err != nil {
		fmt.Fprintln(os.Stderr, "syslogload:", err)
		os.Exit(1)
	}
	fmt.Printf("sent %d messages over %s in %.3f s: %.0f messages/s, senders %d\n", *count, network, took.Seconds(), float64(*count)/took.Seconds(), *senders)
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

// sendAll runs senders senders at once, sender j sending messages
// [j*count/senders, (j+1)*count/senders) in order, and returns when all
// are sent.
func sendAll(network, hostport string, count, rate, size int, octet bool, batch, senders int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, senders)
	start := time.Now()
	for j := range senders {
		from, to := j*count/senders, (j+1)*count/senders
		wg.Go(func() { errs[j] = send(network, hostport, from, to, rate/senders, size, octet, batch) })
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return took, nil
}

// gso is -gso: batches go out as one buffer that the kernel cuts into
// datagrams of the message size (UDP generic segmentation offload). Every
// message is the same size, so every datagram is one message.
var gso bool

// datagramSender sends datagrams, batch at a time where it can.
type datagramSender interface {
	add(i int) error // message i
	flush() error
	close() error
}

// send sends messages [from, to) on one socket or connection, paced to
// rate a second (0: as fast as it can).
func send(network, hostport string, from, to, rate, size int, octet bool, batch int) error {
	var w *bufio.Writer
	var d datagramSender
	if network == "tcp" {
		conn, err := net.Dial(network, hostport)
		if err != nil {
			return err
		}
		defer conn.Close()
		w = bufio.NewWriterSize(conn, 256<<10)
	} else {
		var err error
		if d, err = newDatagramSender(hostport, batch, size); err != nil {
			return err
		}
		defer d.close()
	}
	msg := make([]byte, 0, size+16)
	start := time.Now()
	for i := from; i < to; i++ {
		if rate > 0 && (i-from)%100 == 0 {
			// Paced in steps of 100 messages.
			if wait := time.Until(start.Add(time.Duration(i-from) * time.Second / time.Duration(rate))); wait > 0 {
				if w != nil {
					if err := w.Flush(); err != nil {
						return err
					}
				}
				if d != nil {
					if err := d.flush(); err != nil {
						return err
					}
				}
				time.Sleep(wait)
			}
		}
		if d != nil {
			if err := d.add(i); err != nil {
				return err
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
		return w.Flush()
	}
	return d.flush()
}
