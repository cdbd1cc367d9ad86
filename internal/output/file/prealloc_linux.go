package file

import (
	"os"
	"syscall"
)

// reserveSpace reserves n bytes of disk for f from offset off without
// changing its size (fallocate with FALLOC_FL_KEEP_SIZE).
func reserveSpace(f *os.File, off, n int64) error {
	const keepSize = 0x1 // FALLOC_FL_KEEP_SIZE
	for {
		err := syscall.Fallocate(int(f.Fd()), keepSize, off, n)
		if err != syscall.EINTR {
			return err
		}
	}
}
