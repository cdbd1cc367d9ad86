package diskqueue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logflux/agent/internal/queue"
)

// pos is a place in the queue: a record boundary in a segment, and the
// sequence number expected there. Records found with a smaller sequence
// number are skipped as already read, so a position may point at the start
// of a segment with seq set further on (used when the exact offset is lost).
type pos struct {
	seg uint64 // segment id
	off int64  // byte offset in the segment
	seq uint64 // sequence number of the next record wanted
}

// before reports whether p comes before q in the queue.
func (p pos) before(q pos) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

// Position file: one reader's committed position, replaced atomically
// (temp file, fsync, rename, fsync of the directory), with the state its
// output committed with it (queue.StateReader), if any:
//
//	+-------+--------+---------+--------+--------+------------+---------+
//	| magic | crc32c | segment | offset |  seq   | state size |  state  |
//	|   4   |   4    |    8    |   8    |   8    |     4      |  size   |
//	+-------+--------+---------+--------+--------+------------+---------+
//	<--------------------- version 1 ----------------------->
//
// magic is "LQP" and the version: 1 has no state (and is what a position
// without one is still written as, so an older agent can read it), 2 has
// the state size and the state. crc32c covers every byte after it, so the
// position and the state are both there or neither is.
const (
	posSize   = 32          // version 1
	posV2Size = posSize + 4 // version 2 without its state
)

var (
	posMagic   = [4]byte{'L', 'Q', 'P', 1}
	posMagicV2 = [4]byte{'L', 'Q', 'P', 2}
)

const (
	posPrefix = "reader-"
	posSuffix = ".pos"
	tmpSuffix = ".tmp"
	segSuffix = ".seg"
	// spareSuffix names a drained segment file kept to be written over as
	// the next segment (see diskqueue.go).
	spareSuffix = ".spare"
)

func encodePos(p pos, state []byte) []byte {
	size, magic := posSize, posMagic
	if state != nil {
		size, magic = posV2Size+len(state), posMagicV2
	}
	b := make([]byte, size)
	copy(b, magic[:])
	binary.LittleEndian.PutUint64(b[8:], p.seg)
	binary.LittleEndian.PutUint64(b[16:], uint64(p.off))
	binary.LittleEndian.PutUint64(b[24:], p.seq)
	if state != nil {
		binary.LittleEndian.PutUint32(b[posSize:], uint32(len(state)))
		copy(b[posV2Size:], state)
	}
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

// decodePos returns the position and the state (nil when none) in b.
func decodePos(b []byte) (pos, []byte, error) {
	var state []byte
	switch {
	case len(b) >= 4 && bytes.Equal(b[:4], posMagic[:]):
		if len(b) != posSize {
			return pos{}, nil, fmt.Errorf("position file has %d bytes, want %d", len(b), posSize)
		}
	case len(b) >= 4 && bytes.Equal(b[:4], posMagicV2[:]):
		if len(b) < posV2Size {
			return pos{}, nil, fmt.Errorf("position file has %d bytes, want at least %d", len(b), posV2Size)
		}
		n := binary.LittleEndian.Uint32(b[posSize:])
		if int64(n) != int64(len(b)-posV2Size) {
			return pos{}, nil, fmt.Errorf("position file has %d bytes of state, its header says %d", len(b)-posV2Size, n)
		}
		state = b[posV2Size:]
	default:
		return pos{}, nil, errors.New("position file has a bad magic number")
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return pos{}, nil, errors.New("position file checksum mismatch")
	}
	p := pos{
		seg: binary.LittleEndian.Uint64(b[8:]),
		off: int64(binary.LittleEndian.Uint64(b[16:])),
		seq: binary.LittleEndian.Uint64(b[24:]),
	}
	if p.off < 0 {
		return pos{}, nil, errors.New("position file has a negative offset")
	}
	return p, state, nil
}

// readPos loads a position file and the state in it (nil when none).
func readPos(fsys FS, path string) (pos, []byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return pos{}, nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return pos{}, nil, err
	}
	if size < posSize || size > posV2Size+queue.MaxStateBytes {
		return pos{}, nil, fmt.Errorf("position file has %d bytes, want %d to %d", size, posSize, posV2Size+queue.MaxStateBytes)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n < len(b) {
		return pos{}, nil, fmt.Errorf("read position file: %w", err)
	}
	return decodePos(b)
}

// writePosTemp writes p to the temp file beside path and fsyncs it; renaming
// it over path is left to the caller, so several can share one directory fsync.
func writePosTemp(fsys FS, path string, p pos, state []byte) error {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(encodePos(p, state), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(tmp)
	}
	return err
}

// posFile returns the path of the position file of reader name. Bytes other
// than letters, digits, '-' and '_' are escaped as %XX so any name is safe.
func posFile(dir, name string) string {
	var b strings.Builder
	b.WriteString(posPrefix)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(posSuffix)
	return filepath.Join(dir, b.String())
}

// readerName inverts posFile for a file name (without directory).
func readerName(file string) (string, bool) {
	s, ok := strings.CutPrefix(file, posPrefix)
	if !ok {
		return "", false
	}
	if s, ok = strings.CutSuffix(s, posSuffix); !ok || s == "" {
		return "", false
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		c, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b = append(b, byte(c))
		i += 2
	}
	return string(b), true
}

// segFile returns the path of segment id.
func segFile(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", id, segSuffix))
}

// spareFile returns the path a drained segment id is kept under for reuse.
func spareFile(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", id, spareSuffix))
}

// segID parses a segment file name (without directory).
func segID(file string) (uint64, bool) {
	s, ok := strings.CutSuffix(file, segSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		id = id*10 + uint64(s[i]-'0')
	}
	return id, true
}
