package syslog

import (
	"bytes"
	"io"
	"testing"

	"github.com/logflux/agent/internal/input/entrybuild"
)

// FuzzMessage: any bytes make exactly one valid entry (never a refusal),
// and a stream of them splits into messages no longer than the limit.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		"<13>1 2025-01-02T03:04:05Z host app 1 ID [a@1 b=\"c\"] msg",
		"<13>Jan  2 03:04:05 host tag[1]: msg",
		"12 <13>1 - - - -\n<14>x\x00y",
		"\xff\xfe<999>",
		"",
	} {
		f.Add([]byte(s))
	}
	c := defaults()
	c.Address = "udp://127.0.0.1:1"
	if err := c.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := newParser(c)
		b := entrybuild.New("fuzz", 1<<20, nil)
		fields, _ := p.parse(raw, "")
		if _, err := b.Add(fields); err != nil {
			t.Fatalf("%q refused: %v", raw, err)
		}
		fr := newFramer(bytes.NewReader(raw), 480)
		for range len(raw) + 1 {
			msg, _, _, err := fr.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) > 480 {
				t.Fatalf("a message of %d bytes over the limit of 480", len(msg))
			}
		}
		t.Fatalf("the framer did not reach the end of %d bytes", len(raw))
	})
}
