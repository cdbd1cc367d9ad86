// Command syslogload sends generated RFC 5424 syslog messages of about 200
// bytes over TCP (newline framing, or octet counting) or UDP as fast as it
// can or at a given rate, for bench/compare-io.sh. It prints what it sent and
// how long that took.
//
//	syslogload -addr tcp://127.0.0.1:5514 -count N [-rate PER-SECOND] [-octet-counting]
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
)

func main() {
	addr := flag.String("addr", "", "tcp://HOST:PORT or udp://HOST:PORT")
	count := flag.Int("count", 100000, "messages to send")
	rate := flag.Int("rate", 0, "messages per second (0: as fast as possible)")
	octet := flag.Bool("octet-counting", false, "TCP: frame as LEN SP MSG (RFC 6587) instead of MSG LF")
	size := flag.Int("size", 200, "bytes per message, framing excluded")
	flag.Parse()
	network, hostport, ok := strings.Cut(*addr, "://")
	if !ok || (network != "tcp" && network != "udp") || *count <= 0 || *size < 100 {
		fmt.Fprintln(os.Stderr, "usage: syslogload -addr tcp://HOST:PORT|udp://HOST:PORT -count N [-rate R] [-octet-counting] [-size BYTES>=100]")
		os.Exit(2)
	}
	took, err := send(network, hostport, *count, *rate, *size, *octet)
	if err != nil {
		fmt.Fprintln(os.Stderr, "syslogload:", err)
		os.Exit(1)
	}
	fmt.Printf("sent %d messages over %s in %.3f s: %.0f messages/s\n", *count, network, took.Seconds(), float64(*count)/took.Seconds())
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

func send(network, hostport string, count, rate, size int, octet bool) (time.Duration, error) {
	conn, err := net.Dial(network, hostport)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var w *bufio.Writer
	if network == "tcp" {
		w = bufio.NewWriterSize(conn, 256<<10)
	}
	msg := make([]byte, 0, size+16)
	start := time.Now()
	for i := 0; i < count; i++ {
		if rate > 0 && i%100 == 0 {
			// Paced in steps of 100 messages.
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				if w != nil {
					if err := w.Flush(); err != nil {
						return 0, err
					}
				}
				time.Sleep(d)
			}
		}
		msg = message(msg[:0], i, size)
		if w == nil {
			if _, err := conn.Write(msg); err != nil {
				return 0, err
			}
			continue
		}
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
	return time.Since(start), nil
}
