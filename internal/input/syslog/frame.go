package syslog

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// framer splits a TCP stream into syslog messages, telling the two framings
// of RFC 6587 apart per message: one that starts with a digit followed by a
// space is octet-counted ("LEN SP MSG", as RFC 5425 requires over TLS);
// anything else ends at LF or NUL (non-transparent framing). A frame is
// taken as octet-counted only when the message after "LEN SP" starts with
// its PRI ('<'), as every syslog message over octet counting does. A message over
// max bytes is cut to max and the rest skipped, so one sender cannot make
// the agent hold more than max per connection.
type framer struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFramer(r io.Reader, max int) *framer {
	return &framer{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next message, whether it was cut, and how many bytes of
// the stream it took. The message is valid until the next call.
func (f *framer) next() (msg []byte, cut bool, n int, err error) {
	// Skip empty frames (a stray LF, NUL or CR between messages).
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, false, n, err
		}
		n++
		if c != '\n' && c != 0 && c != '\r' && c != ' ' {
			f.r.UnreadByte()
			n--
			break
		}
	}
	if length, digits, ok := f.octetCount(); ok {
		n += digits + 1
		f.r.Discard(digits + 1)
		return f.counted(length, n)
	}
	return f.line(n)
}

// octetCount peeks at "LEN SP" at the start of a frame.
func (f *framer) octetCount() (length, digits int, ok bool) {
	head, _ := f.r.Peek(12)
	i := 0
	for i < len(head) && head[i] >= '0' && head[i] <= '9' {
		i++
	}
	// "LEN SP <PRI>": a plain line that happens to start with a number and
	// a space ("5 apples") is not taken for a frame.
	if i == 0 || i > 10 || i+1 >= len(head) || head[i] != ' ' || head[i+1] != '<' || head[0] == '0' {
		return 0, 0, false
	}
	v, err := strconv.Atoi(string(head[:i]))
	if err != nil {
		return 0, 0, false
	}
	return v, i, true
}

func (f *framer) counted(length, n int) ([]byte, bool, int, error) {
	keep := min(length, f.max)
	if cap(f.buf) < keep {
		f.buf = make([]byte, keep)
	}
	f.buf = f.buf[:keep]
	got, err := io.ReadFull(f.r, f.buf)
	n += got
	if err != nil {
		if got > 0 && err == io.ErrUnexpectedEOF {
			return f.buf[:got], true, n, nil // the sender stopped mid-message: keep what came
		}
		return nil, false, n, err
	}
	if length > keep {
		skipped, err := f.r.Discard(length - keep)
		n += skipped
		if err != nil && skipped == 0 {
			return f.buf, true, n, nil
		}
		return f.buf, true, n, nil
	}
	return f.buf, false, n, nil
}

func (f *framer) line(n int) ([]byte, bool, int, error) {
	f.buf = f.buf[:0]
	cut := false
	for {
		if f.r.Buffered() == 0 {
			if _, err := f.r.Peek(1); err != nil {
				if len(f.buf) > 0 || cut {
					return f.buf, cut, n, nil // the last message had no trailer
				}
				return nil, false, n, err
			}
		}
		chunk, _ := f.r.Peek(f.r.Buffered())
		end := bytes.IndexByte(chunk, '\n')
		if end < 0 {
			end = len(chunk)
		}
		if z := bytes.IndexByte(chunk[:end], 0); z >= 0 { // a NUL trailer
			end = z
		}
		if room := f.max - len(f.buf); room > 0 {
			f.buf = append(f.buf, chunk[:min(end, room)]...)
			cut = cut || end > room
		} else if end > 0 {
			cut = true
		}
		if end < len(chunk) { // the trailer is here
			f.r.Discard(end + 1)
			n += end + 1
			return bytes.TrimRight(f.buf, "\r"), cut, n, nil
		}
		f.r.Discard(end)
		n += end
	}
}
