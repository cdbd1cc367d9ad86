package intake

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	input := "one\r\ntwo\n" + strings.Repeat("x", 100) + "\nthree\n" + strings.Repeat("y", 11) + "\nlast"
	for _, r := range []io.Reader{strings.NewReader(input), iotest.OneByteReader(strings.NewReader(input))} {
		l := newLineReader(r, 10)
		var got []string
		for {
			line, err := l.next()
			if errors.Is(err, errLineTooLong) {
				got = append(got, "<too long>")
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(line))
		}
		want := "one|two|<too long>|three|<too long>|last"
		if strings.Join(got, "|") != want {
			t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
		}
	}
}

func TestLineReaderBoundedMemory(t *testing.T) {
	// An endless line never makes the buffer grow past the limit.
	r := io.LimitReader(infinite{}, 50<<20)
	l := newLineReader(r, 1<<20)
	_, err := l.next()
	if !errors.Is(err, errLineTooLong) {
		t.Fatalf("got %v", err)
	}
	if _, err := l.next(); err != io.EOF {
		t.Fatalf("got %v, want EOF after skipping", err)
	}
	if cap(l.buf) > 1<<20+2 {
		t.Fatalf("buffer grew to %d", cap(l.buf))
	}
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}
