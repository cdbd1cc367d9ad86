package file

// Provisional checkpoints
//
// The durable checkpoint (checkpoint.go) trails the reader by up to
// maxUnsaved bytes: it is written only after the queue's fsync. A kill -9
// keeps the queue's records written since (the page cache has them, and the
// disk queue recovers them), so the lines between the durable checkpoint
// and the reader would be read and appended again. With a queue that
// numbers its records (input.SeqSink), the reader therefore writes, with
// every append, a provisional checkpoint: the offsets that append covers
// and a tag, the queue's number of the append's last record. It is written
// when the queue has fixed those numbers and before it writes the records
// (AppendNumbered), so no moment is left between the two where a kill
// would find the records without their checkpoint. It is written in place,
// without fsync, into one of two files in turn (<name>.offsets.p0, .p1):
// the other keeps the one of the append before, which is what a restart
// uses when this append did not reach the queue. With many files followed,
// when the checkpoint is larger than what was appended since the last one,
// it waits for more appends, or for the reader to run out of lines
// (commit.go, provisionalDue).
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
// The invariant: a provisional checkpoint's offsets are covered by its own
// append, whose last record is numbered its tag, and the appends before.
// Appends are recovered whole or not at all, in order, so if the queue, on
// opening, found every record up to the tag, nothing before those offsets
// is missing from it, and reading on from there neither loses nor repeats
// a line; if not, that append did not happen (or a power loss took it) and
// the other file, or the durable checkpoint, is used. A kill -9 keeps both
// the records and the files. A power loss may keep the file and lose
// records (the tag is then above what the queue found) or tear the file
// (the checksum fails). An append that fails after its checkpoint was
// written has that checkpoint written over with what the appends before
// covered, since its numbers go to later records.

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

// loadProvisional returns the whole provisional checkpoints, the newest
// first; exist says whether any of their files is there (to be removed).
func loadProvisional(ckptPath string) (whole []provisionalCheckpoint, exist bool) {
	for _, path := range provisionalPaths(ckptPath) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		exist = true
		if p, err := decodeProvisional(data); err == nil {
			whole = append(whole, p)
		}
	}
	if len(whole) == 2 && whole[1].Gen > whole[0].Gen {
		whole[0], whole[1] = whole[1], whole[0]
	}
	return whole, exist
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
	whole, exist := loadProvisional(ckptPath)
	if !exist {
		return cf, found, how, nil
	}
	seqs, numbered := sink.(input.SeqSink)
	switch {
	case len(whole) == 0:
		how = "durable checkpoint (the provisional one is damaged)"
	case !numbered:
		how = "durable checkpoint (the queue does not number its records)"
	default:
		how = "durable checkpoint (newer than the provisional one)"
		for _, p := range whole {
			if p.Gen <= cf.Gen {
				break
			}
			if p.tag > seqs.RecoveredSeq() {
				how = fmt.Sprintf("durable checkpoint (the queue has records up to %d, the provisional checkpoint needs %d)", seqs.RecoveredSeq(), p.tag)
				continue // its append did not reach the queue, or was lost
			}
			// The queue's Open made every record up to the tag durable.
			if _, err := saveCheckpoint(ckptPath, p.Files, p.Gen, nil); err != nil {
				return cf, false, "", err
			}
			cf, found, how = p.checkpointFile, true, "provisional checkpoint (the queue kept its appends)"
			break
		}
	}
	return cf, found, how, removeProvisional(ckptPath)
}

// provisional writes the provisional checkpoints of one reader.
type provisional struct {
	seqs    input.SeqSink // nil: none are written
	paths   [2]string
	files   [2]*os.File
	slot    int // the file the next one goes to
	buf     []byte
	crc     uint32 // of buf[8:] as prepared
	ready   bool   // buf holds a prepared checkpoint
	tag     uint64 // the number of the last record of the last append
	owed    int64  // bytes appended since the last one written
	size    int    // bytes of the last one written
	wrote   bool   // one was written for the append under way
	pending uint64 // the number of the last record of the append under way
}

// prepare encodes files before the append they describe, so that little is
// left to do under the queue's lock.
func (p *provisional) prepare(files []fileOffsets) {
	b := append(p.buf[:0], provMagic[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendCheckpoint(b, files, 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-provHeader))
	p.buf, p.crc, p.ready = b, crc32.Checksum(b[8:], castagnoli), true
}

// write completes the prepared checkpoint with gen and tag and writes it
// into file slot (the next one, unless it replaces the last).
func (p *provisional) write(gen, tag uint64, slot int) error {
	if !p.ready {
		return nil
	}
	p.ready = false
	var tail [16]byte
	binary.LittleEndian.PutUint64(tail[:], gen)
	binary.LittleEndian.PutUint64(tail[8:], tag)
	crc := crc32.Update(p.crc, castagnoli, tail[:])
	n := len(p.buf)
	b := append(p.buf, tail[:]...)
	binary.LittleEndian.PutUint32(b[4:], crc)
	p.buf = b[:n]
	if p.files[slot] == nil {
		f, err := os.OpenFile(p.paths[slot], os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("writing provisional checkpoint: %w", err)
		}
		p.files[slot] = f
	}
	if _, err := p.files[slot].WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing provisional checkpoint: %w", err)
	}
	p.owed, p.size = 0, len(b)
	if slot == p.slot {
		p.slot ^= 1
	}
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
