//go:build linux

// Command pagecost measures what the kernel charges a process for writing
// into a file: growing a new file (fresh page-cache pages), growing it into
// disk reserved ahead with fallocate (as the file output does), and writing
// over a file whose pages are still cached (as the disk queue does with a
// reused segment). It prints CPU time (user+system) per 430 bytes written,
// the size of one queue record of a 300-byte entry.
//
// Usage: go run ./bench/pagecost [-mib 400] [-rounds 4] [-dir DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	mib := flag.Int("mib", 400, "MiB written per run")
	rounds := flag.Int("rounds", 4, "rounds of both runs")
	dir := flag.String("dir", "", "directory for the test file (default: a new temp dir, removed after)")
	flag.Parse()
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "pagecost"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
	}
	path := filepath.Join(d, "f")
	total := int64(*mib) << 20
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = 'a' + byte(i%26)
	}
	writeAll := func(f *os.File) {
		for off := int64(0); off < total; off += int64(len(block)) {
			if _, err := f.WriteAt(block, off); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	const (
		grow = iota
		reserve
		over
	)
	run := func(name string, how int) {
		if how != over {
			os.Remove(path)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		syscall.Sync() // no write-back of earlier runs inside this one
		c0, t0 := cpuTime(), time.Now()
		if how == reserve {
			for off := int64(0); off < total; off += 16 << 20 {
				// FALLOC_FL_KEEP_SIZE: 16 MiB at a time, the file output's step
				if err := syscall.Fallocate(int(f.Fd()), 1, off, 16<<20); err != nil {
					fmt.Fprintln(os.Stderr, "fallocate:", err)
					os.Exit(1)
				}
			}
		}
		writeAll(f)
		cpu := cpuTime() - c0
		fmt.Printf("%-26s CPU %8.1f ms  wall %8.1f ms  %5.0f ns per 430 bytes\n", name,
			float64(cpu)/1e6, float64(time.Since(t0))/1e6, float64(cpu)/float64(total/430))
	}
	fmt.Printf("%d MiB in 64 KiB writes per run, in %s\n", *mib, d)
	for range *rounds {
		run("new file", grow)
		run("new file, space reserved", reserve)
		run("over the cached file", over)
	}
}
