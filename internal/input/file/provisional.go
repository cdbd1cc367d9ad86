package file

// Provisional checkpoints
//
// The durable checkpoint (checkpoint.go) trails the reader by up to
// maxUnsaved bytes: it is written only after the queue's fsync. A kill -9
// keeps the queue's records written since (the page cache has them, and the
// disk queue recovers them), so the lines between the durable checkpoint
// and the reader would be read and appended again. With a queue that
// numbers its records (input.SeqSink), the reader therefore writes, after
// every append, a provisional checkpoint: the offsets that append covers
// and a tag, the queue's number of its last record (at least that of the
// append's last record). With many files followed, when the checkpoint is
// larger than what was appended since the last one, it waits for more
// appends, or for the reader to run out of lines (commit.go,
// provisionalDue). It is written in place, without fsync, into one of
// two files in turn (<name>.offsets.p0, .p1), so that a write cut short
// leaves the other whole:
//
//	+-------+--------+--------+----------------------+-----+-----+
//	| magic | crc32c | length | checkpoint JSON      | gen | tag |
//	|   4   |   4    |   4    | length               |  8  |  8  |
//	+-------+--------+--------+----------------------+-----+-----+
//
// crc32c (Castagnoli) covers everything after it; bytes past the tag (an
// earlier, longer write) are ignored. The JSON is the durable checkpoint's,
// with the same files, seeds and fingerprints.
//
// The invariant: a provisional checkpoint's offsets are covered by appends
// that returned before it was written, whose records are numbered at most
// its tag. So if the queue, on opening, found every record up to the tag,
// nothing before those offsets is missing from it, and reading on from
// there neither loses nor repeats a line. A kill -9 keeps both the records
// and the file. A power loss may keep the file and lose records (the tag is
// then above what the queue found) or tear the file (the checksum fails):
// then the durable checkpoint is used, as without this file.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/logflux/agent/internal/input"
)

var provMagic = [4]byte{0xff, 'L', 'F', 'P'}

const provHeader = 12 // magic, crc32c, length

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// provisionalPaths are the two files of input name's provisional
// checkpoints.
func provisionalPaths(ckptPath string) [2]string {
	base := ckptPath[:len(ckptPath)-len(".json")]
	return [2]string{base + ".p0", base + ".p1"}
}

// provisionalCheckpoint is one decoded provisional checkpoint.
type provisionalCheckpoint struct {
	checkpointFile
	tag uint64
}

// decodeProvisional checks and parses one file's content.
func decodeProvisional(data []byte) (p provisionalCheckpoint, err error) {
	if len(data) < provHeader || [4]byte(data[:4]) != provMagic {
		return p, errors.New("no provisional checkpoint")
	}
	n := int64(binary.LittleEndian.Uint32(data[8:]))
	end := provHeader + n + 16
	if end > int64(len(data)) {
		return p, errors.New("cut short")
	}
	if crc32.Checksum(data[8:end], castagnoli) != binary.LittleEndian.Uint32(data[4:]) {
		return p, errors.New("checksum mismatch")
	}
	if p.checkpointFile, err = decodeCheckpoint(data[provHeader : provHeader+n]); err != nil {
		return p, err
	}
	p.Gen = binary.LittleEndian.Uint64(data[provHeader+n:])
	p.tag = binary.LittleEndian.Uint64(data[provHeader+n+8:])
	return p, nil
}

// loadProvisional returns the newest whole provisional checkpoint; exist
// says whether any of its files is there (to be removed).
func loadProvisional(ckptPath string) (best provisionalCheckpoint, found, exist bool) {
	for _, path := range provisionalPaths(ckptPath) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		exist = true
		p, err := decodeProvisional(data)
		if err == nil && (!found || p.Gen > best.Gen) {
			best, found = p, true
		}
	}
	return best, found, exist
}

// removeProvisional removes the provisional files, durably: one left from
// before this start must never be taken for a newer one.
func removeProvisional(ckptPath string) error {
	for _, path := range provisionalPaths(ckptPath) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing provisional checkpoint: %w", err)
		}
	}
	if err := syncDir(filepath.Dir(ckptPath)); err != nil {
		return fmt.Errorf("removing provisional checkpoint: %w", err)
	}
	return nil
}

// resumeFrom chooses where the input resumes: the durable checkpoint, or
// a newer provisional one whose appends the queue kept, which is then made
// durable. The provisional files are removed either way.
func resumeFrom(ckptPath string, sink input.Sink) (cf checkpointFile, found bool, how string, err error) {
	cf, found, err = loadCheckpoint(ckptPath)
	if err != nil {
		return cf, false, "", err
	}
	how = "durable checkpoint"
	p, ok, exist := loadProvisional(ckptPath)
	if !exist {
		return cf, found, how, nil
	}
	seqs, numbered := sink.(input.SeqSink)
	switch {
	case !ok:
		how = "durable checkpoint (the provisional one is damaged)"
	case !numbered:
		how = "durable checkpoint (the queue does not number its records)"
	case p.Gen <= cf.Gen:
		how = "durable checkpoint (newer than the provisional one)"
	case p.tag > seqs.RecoveredSeq():
		how = fmt.Sprintf("durable checkpoint (the queue lost records: it has up to %d, the provisional checkpoint needs %d)", seqs.RecoveredSeq(), p.tag)
	default:
		// The queue's Open made every record up to the tag durable.
		if _, err := saveCheckpoint(ckptPath, p.Files, p.Gen, nil); err != nil {
			return cf, false, "", err
		}
		cf, found, how = p.checkpointFile, true, "provisional checkpoint (the queue kept its appends)"
	}
	return cf, found, how, removeProvisional(ckptPath)
}

// provisional writes the provisional checkpoints of one reader.
type provisional struct {
	seqs  input.SeqSink // nil: none are written
	paths [2]string
	files [2]*os.File
	buf   []byte
	crc   uint32 // of buf[8:] as prepared
	ready bool   // buf holds a prepared checkpoint
	tag   uint64 // of the last append
	owed  int64  // bytes appended since the last one written
	size  int    // bytes of the last one written
}

// prepare encodes files before the append they describe, so that little is
// left to do between the append and the write.
func (p *provisional) prepare(files []fileOffsets) {
	b := append(p.buf[:0], provMagic[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendCheckpoint(b, files, 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-provHeader))
	p.buf, p.crc, p.ready = b, crc32.Checksum(b[8:], castagnoli), true
}

// write completes the prepared checkpoint with gen and the tag and writes
// it into the file of gen's parity.
func (p *provisional) write(gen uint64) error {
	if !p.ready {
		return nil
	}
	p.ready = false
	var tail [16]byte
	binary.LittleEndian.PutUint64(tail[:], gen)
	binary.LittleEndian.PutUint64(tail[8:], p.tag)
	crc := crc32.Update(p.crc, castagnoli, tail[:])
	n := len(p.buf)
	b := append(p.buf, tail[:]...)
	binary.LittleEndian.PutUint32(b[4:], crc)
	p.buf = b[:n]
	i := gen & 1
	if p.files[i] == nil {
		f, err := os.OpenFile(p.paths[i], os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("writing provisional checkpoint: %w", err)
		}
		p.files[i] = f
	}
	if _, err := p.files[i].WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing provisional checkpoint: %w", err)
	}
	p.owed, p.size = 0, len(b)
	return nil
}

func (p *provisional) close() {
	for i, f := range p.files {
		if f != nil {
			f.Close()
			p.files[i] = nil
		}
	}
}
