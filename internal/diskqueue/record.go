package diskqueue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Record layout; the diagram is in diskqueue.go.
const (
	headerSize     = 32
	maxRecordBytes = 1 << 30 // largest payload Append accepts
	flagUnitEnd    = 1       // last record of one Append
)

// recordMagic starts every record: 0xff never occurs in UTF-8 (and so never
// in a JSON payload), "LQ" names the queue, 1 is the format version.
var recordMagic = [4]byte{0xff, 'L', 'Q', 1}

// magicWord is recordMagic as a little-endian word, compared in one step.
var magicWord = binary.LittleEndian.Uint32(recordMagic[:])

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBad reports a record that is damaged or cut short; the caller resynchronises.
var errBad = errors.New("diskqueue: damaged record")

type header struct {
	crc      uint32
	length   int64
	flags    byte
	seq      uint64
	unixNano int64
	partial  uint32 // crc32c of the header bytes after the crc, to continue over the payload (set by segReader.header)
}

// appendRecords encodes records at the end of dst as one unit: seqs from
// seq on, all stamped unixNano, the last one marked as the unit's end.
func appendRecords(dst []byte, records [][]byte, seq uint64, unixNano int64) []byte {
	start := len(dst)
	for i, r := range records {
		var flags byte
		if i == len(records)-1 {
			flags = flagUnitEnd
		}
		dst = appendRecordNoCRC(dst, seq+uint64(i), unixNano, flags, r)
	}
	// The checksums, three records at a time.
	b := dst[start:]
	for len(b) > 0 {
		var r [3][]byte // each record from its length field on, what its crc covers
		var at [3][]byte
		k := 0
		for ; k < 3 && len(b) > 0; k++ {
			n := headerSize + int(binary.LittleEndian.Uint32(b[8:]))
			at[k], r[k], b = b[4:8], b[8:n], b[n:]
		}
		switch k {
		case 3:
			ca, cb, cc := checksum3(r[0], r[1], r[2])
			binary.LittleEndian.PutUint32(at[0], ca)
			binary.LittleEndian.PutUint32(at[1], cb)
			binary.LittleEndian.PutUint32(at[2], cc)
		default:
			for i := range k {
				binary.LittleEndian.PutUint32(at[i], crc32.Checksum(r[i], castagnoli))
			}
		}
	}
	return dst
}

// appendRecordNoCRC encodes a record with a zero crc, filled in later.
func appendRecordNoCRC(dst []byte, seq uint64, unixNano int64, flags byte, payload []byte) []byte {
	dst = append(dst, recordMagic[:]...)
	dst = append(dst, 0, 0, 0, 0) // crc
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, flags, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixNano))
	return append(dst, payload...)
}

// parseHeader decodes b (headerSize bytes); false means it is not a record header.
func parseHeader(b []byte) (header, bool) {
	if binary.LittleEndian.Uint32(b) != magicWord || b[13] != 0 || b[14] != 0 || b[15] != 0 {
		return header{}, false
	}
	h := header{
		crc:      binary.LittleEndian.Uint32(b[4:]),
		length:   int64(binary.LittleEndian.Uint32(b[8:])),
		flags:    b[12],
		seq:      binary.LittleEndian.Uint64(b[16:]),
		unixNano: int64(binary.LittleEndian.Uint64(b[24:])),
	}
	if h.length > maxRecordBytes || h.flags&^flagUnitEnd != 0 {
		return header{}, false
	}
	return h, true
}

func (h *header) check(payload []byte) bool {
	return crc32.Update(h.partial, castagnoli, payload) == h.crc
}

// segReader reads records from one segment file through a buffer. It never
// buffers bytes at or beyond the limit it is given, so bytes the writer has
// not finished writing are never cached.
type segReader struct {
	f      File
	hdr    [headerSize]byte // scratch for header (a field, so it does not escape per call)
	buf    []byte
	bufOff int64 // file offset of buf[0]
	bufLen int   // valid bytes in buf
}

func newSegReader(bufSize int) *segReader {
	return &segReader{buf: make([]byte, bufSize)}
}

func (s *segReader) reset(f File) {
	s.f, s.bufOff, s.bufLen = f, 0, 0
}

// readAt fills p from offset off; off+len(p) must not exceed limit. A file
// shorter than that is damage (errBad); other failures are I/O errors.
func (s *segReader) readAt(p []byte, off, limit int64) error {
	end := off + int64(len(p))
	if off >= s.bufOff && end <= s.bufOff+int64(s.bufLen) {
		copy(p, s.buf[off-s.bufOff:])
		return nil
	}
	if len(p) >= len(s.buf)/2 {
		m, err := s.f.ReadAt(p, off)
		return readErr(m, len(p), err)
	}
	n := min(int64(len(s.buf)), limit-off)
	m, err := s.f.ReadAt(s.buf[:n], off)
	if m < len(p) {
		s.bufLen = 0
		return readErr(m, len(p), err)
	}
	s.bufOff, s.bufLen = off, m
	copy(p, s.buf[:len(p)])
	return nil
}

// readErr turns the result of a ReadAt of want bytes into nil, errBad (the
// file is shorter than expected) or an I/O error.
func readErr(n, want int, err error) error {
	switch {
	case n >= want:
		return nil
	case err == nil || errors.Is(err, io.EOF):
		return errBad
	default:
		return fmt.Errorf("diskqueue: read: %w", err)
	}
}

// header reads and decodes the record header at off, checking that the
// whole record lies below limit.
func (s *segReader) header(off, limit int64) (header, error) {
	if limit-off < headerSize {
		return header{}, errBad
	}
	if err := s.readAt(s.hdr[:], off, limit); err != nil {
		return header{}, err
	}
	h, ok := parseHeader(s.hdr[:])
	if !ok || off+headerSize+h.length > limit {
		return header{}, errBad
	}
	h.partial = crc32.Checksum(s.hdr[8:headerSize], castagnoli)
	return h, nil
}

// payload appends the payload of the record at off (whose header is h) to
// dst and verifies its checksum.
func (s *segReader) payload(h *header, off, limit int64, dst []byte) ([]byte, error) {
	n := len(dst)
	dst = slices.Grow(dst, int(h.length))[:n+int(h.length)]
	if err := s.readAt(dst[n:], off+headerSize, limit); err != nil {
		return dst[:n], err
	}
	if !h.check(dst[n:]) {
		return dst[:n], errBad
	}
	return dst, nil
}

// resync looks for the first whole, valid record of segment id starting in
// [from, limit) and returns its offset; false means there is none. Records
// with a seq below id are a reused file's old content, not valid ones.
func (s *segReader) resync(from, limit int64, id uint64) (int64, bool, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	probe := newSegReader(4 << 10)
	probe.reset(s.f)
	var scratch []byte
	for pos := from; limit-pos >= headerSize; {
		n := min(int64(chunk), limit-pos)
		m, err := s.f.ReadAt(buf[:n], pos)
		short := m < int(n)
		if short {
			if err != nil && !errors.Is(err, io.EOF) {
				return 0, false, fmt.Errorf("diskqueue: read: %w", err)
			}
			n = int64(m)
		}
		for i := 0; ; {
			j := bytes.Index(buf[i:n], recordMagic[:])
			if j < 0 {
				break
			}
			cand := pos + int64(i+j)
			h, err := probe.header(cand, limit)
			if err == nil {
				scratch, err = probe.payload(&h, cand, limit, scratch[:0])
				if err == nil && h.seq >= id {
					return cand, true, nil
				}
			}
			if err != nil && !errors.Is(err, errBad) {
				return 0, false, err
			}
			i += j + 1
		}
		if short || n < headerSize {
			break
		}
		// Step back so that a magic cut by the chunk boundary is found.
		pos += n - int64(len(recordMagic)-1)
	}
	return 0, false, nil
}
