// Command floor is the yardstick for bench/compare.sh: a daemon that does the
// agent's input and output work and nothing else, so the difference between
// its figures and the agent's is what parsing, validation, normalisation,
// checksums, the queue's bookkeeping and fsyncs cost.
//
// It listens on a Unix socket, splits what each connection sends into lines
// and appends each line, followed by a newline, to an output file through a
// 256 KiB buffer. With -queue it also writes every line, padded by -pad
// bytes (a normalised record is about 130 bytes longer than its input line,
// header included), to FILE.queue in groups of 256, as the agent's queue
// does; nothing is ever read back, checked or synced.
//
//	floor [-queue] [-pad N] SOCKET FILE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	queue := flag.Bool("queue", false, "also write every line, padded, to FILE.queue")
	pad := flag.Int("pad", 130, "bytes added to each line written to the queue file")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor [-queue] [-pad N] SOCKET FILE")
		os.Exit(2)
	}
	sock, file := flag.Arg(0), flag.Arg(1)
	if err := run(sock, file, *queue, *pad); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(sock, file string, queue bool, pad int) error {
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer ln.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; ln.Close() }()

	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer out.Close()
	var q *os.File
	if queue {
		if q, err = os.Create(file + ".queue"); err != nil {
			return err
		}
		defer q.Close()
	}
	w := bufio.NewWriterSize(out, 256<<10)
	padding := make([]byte, pad)
	var group []byte
	var off int64
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil // closed by a signal
		}
		sc := bufio.NewScanner(c)
		sc.Buffer(make([]byte, 256<<10), 16<<20)
		n := 0
		for sc.Scan() {
			line := sc.Bytes()
			if q != nil {
				group = append(append(group, line...), padding...)
				if n++; n == 256 {
					if _, err := q.WriteAt(group, off); err != nil {
						return err
					}
					off += int64(len(group))
					group, n = group[:0], 0
				}
			}
			w.Write(line)
			w.WriteByte('\n')
		}
		if len(group) > 0 {
			if _, err := q.WriteAt(group, off); err != nil {
				return err
			}
			off += int64(len(group))
			group, n = group[:0], 0
		}
		if err := w.Flush(); err != nil {
			return err
		}
		c.Close()
	}
}
