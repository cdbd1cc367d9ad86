package intake

import (
	"bytes"
	"errors"
	"io"
)

// errLineTooLong is returned once for each line longer than the limit; the
// rest of that line is skipped up to its newline.
var errLineTooLong = errors.New("line too long")

const (
	initialBuffer = 4 << 10   // an idle connection costs little memory…
	streamBuffer  = 256 << 10 // …and a busy one grows to read in large chunks
	keptBuffer    = 1 << 20   // a buffer grown past this is dropped when empty
)

// lineReader splits a stream into lines without copying them: a line is
// valid until the next call to next.
type lineReader struct {
	r        io.Reader
	buf      []byte
	start    int   // first unread byte
	end      int   // end of the data read so far
	scanned  int   // bytes from start known to hold no newline
	max      int   // longest line accepted, without its newline
	skipping bool  // discarding the rest of an over-long line
	err      error // read error to return once the buffered lines are done
	fills    int   // reads so far: lines from the same read arrived together

	unfinished bool // the last line returned had no newline: the stream ended (or timed out) in it

	budget    *lineBudget  // shared by all connections (nil: unlimited; budget.go)
	budgetMax func() int64 // the budget's size now
	granted   int64        // bytes this buffer holds from the budget
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: r, max: max}
}

// next returns the next line without its "\n" (and a "\r" before it). At the
// end of the stream a last line without a newline is returned too.
func (l *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start+l.scanned:l.end], '\n'); i >= 0 {
			lineEnd := l.start + l.scanned + i
			line := l.buf[l.start:lineEnd]
			l.start, l.scanned = lineEnd+1, 0
			if l.skipping {
				l.skipping = false
				continue
			}
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > l.max {
				return nil, errLineTooLong
			}
			return line, nil
		}
		l.scanned = l.end - l.start
		if l.skipping || l.scanned > l.max+1 { // +1: room for a "\r"
			reported := l.skipping
			l.skipping = true
			l.start, l.end, l.scanned = 0, 0, 0
			if !reported {
				return nil, errLineTooLong
			}
		}
		if l.err != nil {
			if l.end > l.start && !l.skipping {
				line := l.buf[l.start:l.end]
				l.start, l.scanned = l.end, 0
				l.unfinished = true
				return line, nil
			}
			return nil, l.err
		}
		if !l.fill() {
			return nil, l.refuseLine()
		}
	}
}

// hasLine reports whether a complete line is already buffered, so that the
// caller can batch work before it would block on the next read.
func (l *lineReader) hasLine() bool {
	if i := bytes.IndexByte(l.buf[l.start+l.scanned:l.end], '\n'); i >= 0 {
		l.scanned += i // next finds the newline at once instead of looking again
		return true
	}
	l.scanned = l.end - l.start
	return false
}

// fill reads more data, making room first. It returns false, reading
// nothing, when the current line would need more buffer than the shared
// budget has left.
func (l *lineReader) fill() bool {
	if l.start == l.end {
		l.start, l.end = 0, 0
		if cap(l.buf) > keptBuffer {
			l.buf = nil
			l.dropGrant()
		}
	}
	if l.buf == nil {
		l.buf = make([]byte, initialBuffer)
	}
	if l.end == len(l.buf) {
		if l.start > 0 {
			n := copy(l.buf, l.buf[l.start:l.end])
			l.start, l.end = 0, n
		} else {
			// The current line fills the buffer: grow it, but never much
			// past what the longest line needs.
			size := 2 * len(l.buf)
			if limit := l.max + 2; size > limit {
				size = limit
			}
			if size <= len(l.buf) {
				size = len(l.buf) + initialBuffer
			}
			if !l.grow(size) {
				return false
			}
			nb := make([]byte, size)
			copy(nb, l.buf[l.start:l.end])
			l.buf = nb
		}
	}
	free := len(l.buf) - l.end
	l.fills++
	n, err := l.r.Read(l.buf[l.end:])
	l.end += n
	if n == free && len(l.buf) < streamBuffer {
		// The read filled all the room there was: more is coming than
		// the buffer holds, so make it bigger for the next read.
		nb := make([]byte, 2*len(l.buf))
		copy(nb, l.buf[l.start:l.end])
		l.start, l.end = 0, l.end-l.start
		l.buf = nb
	}
	if err != nil {
		l.err = err
	}
	return true
}
