package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The figures of a process that the bench reads from /proc, for any process:
// the agent, a peer such as rsyslogd, or the bench itself.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports (the kernel's ABI fixes it,
// whatever CONFIG_HZ is).
const clockTicks = 100

// procRoot is where proc is mounted (a variable for tests).
var procRoot = "/proc"

// ProcStat is what the bench reads of one process.
type ProcStat struct {
	Name          string  // comm: the executable's name, at most 15 bytes
	CPUSeconds    float64 // user plus system time of all its threads so far
	SystemSeconds float64 // of which in the kernel, on its behalf
}

// ReadProcStat reads /proc/<pid>/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	return parseProcStat(data)
}

// parseProcStat reads "pid (comm) state ppid ... utime stime ...". comm may
// hold spaces and parentheses, so the fields are counted from the last ')'.
func parseProcStat(data []byte) (ProcStat, error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("unreadable /proc stat line %.60q", data)
	}
	// After the comm: state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8)
	// flags(9) minflt(10) cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15).
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("short /proc stat line %.60q", data)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ProcStat{}, fmt.Errorf("/proc stat times: %w", err)
	}
	return ProcStat{
		Name:          string(data[open+1 : end]),
		CPUSeconds:    float64(utime+stime) / clockTicks,
		SystemSeconds: float64(stime) / clockTicks,
	}, nil
}

// ReadPeakRSS returns VmHWM from /proc/<pid>/status in bytes: the largest
// resident set the process has had since it started or since ResetPeakRSS.
func ReadPeakRSS(pid int) (int64, error) {
	return readStatusKB(pid, "VmHWM:")
}

// ReadRSS returns VmRSS from /proc/<pid>/status in bytes.
func ReadRSS(pid int) (int64, error) {
	return readStatusKB(pid, "VmRSS:")
}

func readStatusKB(pid int, key string) (int64, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseStatusKB(f, key)
}

func parseStatusKB(f interface{ Read([]byte) (int, error) }, key string) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unreadable status line %q", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc status (a kernel thread, or a zombie)", strings.TrimSuffix(key, ":"))
}

// ResetPeakRSS makes VmHWM start again from the current RSS (writing 5 to
// /proc/<pid>/clear_refs), so that a peak belongs to one run rather than to
// the process's whole life. It needs the right to write that file (the
// process's owner or root).
func ResetPeakRSS(pid int) error {
	return os.WriteFile(filepath.Join(procRoot, strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
}

// FindListener returns the pid of the process that holds the listening
// socket for network ("unix" or "tcp") and address, by matching the socket's
// inode in /proc/net with the descriptors in /proc/<pid>/fd. Reading other
// users' descriptors needs root.
func FindListener(network, address string) (int, error) {
	var inodes map[string]bool
	var err error
	switch network {
	case "unix":
		inodes, err = unixListenerInodes(address)
	case "tcp":
		inodes, err = tcpListenerInodes(address)
	default:
		return 0, fmt.Errorf("unknown network %q", network)
	}
	if err != nil {
		return 0, err
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on %s %s", network, address)
	}
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				pids = append(pids, pid)
				break
			}
		}
	}
	switch len(pids) {
	case 0:
		return 0, fmt.Errorf("the socket listening on %s %s belongs to no process this user can see", network, address)
	case 1:
		return pids[0], nil
	default:
		// A Unix socket keeps its path in /proc/net/unix after its file was
		// removed, so an old listener may still show it.
		return 0, fmt.Errorf("several processes listen on %s %s (pids %v)", network, address, pids)
	}
}

// unixListenerInodes reads /proc/net/unix:
// "Num RefCount Protocol Flags Type St Inode Path", where Flags 00010000
// (__SO_ACCEPTCON) marks a listening socket.
func unixListenerInodes(path string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "net", "unix"))
	if err != nil {
		return nil, err
	}
	want := map[string]bool{path: true}
	if abs, err := filepath.Abs(path); err == nil {
		want[abs] = true
	}
	out := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 8 || f[3] != "00010000" {
			continue
		}
		if want[f[7]] {
			out[f[6]] = true
		}
	}
	return out, nil
}

// tcpListenerInodes reads /proc/net/tcp and tcp6 for sockets in state 0A
// (LISTEN) on the address's port.
func tcpListenerInodes(address string) (map[string]bool, error) {
	_, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port of %q: %w", address, err)
	}
	out := map[string]bool{}
	found := false
	for _, name := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(procRoot, "net", name))
		if err != nil {
			continue
		}
		found = true
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && p == port {
				out[f[9]] = true
			}
		}
	}
	if !found {
		return nil, errors.New("cannot read /proc/net/tcp")
	}
	return out, nil
}
