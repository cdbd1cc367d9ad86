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
	// As the connection reads: asking first whether a whole line is
	// buffered (ask), or not.
	for i := range 4 {
		ask := i >= 2
		var r io.Reader = strings.NewReader(input)
		if i%2 == 1 {
			r = iotest.OneByteReader(r)
		}
		l := newLineReader(r, 10)
		var got []string
		for {
			if ask {
				l.hasLine()
			}
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
			t.Errorf("reader %d: got %q, want %q", i, strings.Join(got, "|"), want)
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
