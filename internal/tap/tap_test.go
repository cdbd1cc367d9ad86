package tap

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

type memSink struct{ got [][]byte }

func (m *memSink) Append(_ context.Context, recs [][]byte) error {
	for _, r := range recs {
		m.got = append(m.got, append([]byte(nil), r...))
	}
	if string(recs[0]) == "refuse" {
		return errors.New("full")
	}
	return nil
}
func (m *memSink) Sync(context.Context) error { return nil }

// A full subscriber loses its own records and counts them; another one, and
// the sink behind the hub, get everything.
func TestSlowSubscriberLosesOnlyItsOwn(t *testing.T) {
	var h Hub
	next := &memSink{}
	s := h.Sink(next, "api")
	slow, fast := h.Subscribe(10), h.Subscribe(1<<20)
	defer slow.Close()
	buf := []byte("abcdef")
	for range 5 {
		if err := s.Append(context.Background(), [][]byte{buf[:3], buf[3:]}); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXX") // the caller reuses its buffer at once
		copy(buf, "abcdef")
	}
	if len(next.got) != 10 {
		t.Fatalf("the sink got %d records, want 10", len(next.got))
	}
	var n int
	for _, b := range fast.Take() {
		for i := range b.Len() {
			if r := string(b.Record(i)); r != "abc" && r != "def" || b.Input != "api" {
				t.Fatalf("record %q from %q", r, b.Input)
			}
			n++
		}
	}
	if n != 10 || fast.Dropped() != 0 {
		t.Errorf("the fast subscriber got %d and lost %d, want 10 and 0", n, fast.Dropped())
	}
	if got := slow.Take(); len(got) != 1 || slow.Dropped() != 8 {
		t.Errorf("the 10-byte subscriber holds %d batches and lost %d, want 1 and 8", len(got), slow.Dropped())
	}
	// A refused append is not shown; a closed subscriber gets nothing.
	fast.Close()
	s.Append(context.Background(), [][]byte{[]byte("refuse")})
	if len(slow.Take()) != 0 || h.Subscribers() != 1 {
		t.Errorf("a refused append reached a tap, or Close did not detach (%d subscribers)", h.Subscribers())
	}
}

func TestFilter(t *testing.T) {
	rec := []byte(`{"id":"x","entryType":5,"logLevel":3,"source":"web-1","payload":"p"}`)
	for q, want := range map[string]bool{
		"":                           true,
		"source=web*":                true,
		"source=db&source=web-?":     true,
		"source=db":                  false,
		"min_level=1&max_level=3":    true,
		"max_level=2":                false,
		"min_level=4":                false,
		"type=1,5":                   true,
		"type=1&type=2":              false,
		"input=api":                  true,
		"input=files":                false,
		"source=web*&type=5&limit=1": true,
		"sample=1&min_level=3":       true,
	} {
		v, _ := url.ParseQuery(q)
		f, err := ParseQuery(v)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := f.Accepts("api", rec); got != want {
			t.Errorf("%q accepts the record: %v, want %v", q, got, want)
		}
	}
	v, _ := url.ParseQuery("min_level=6&max_level=2&type=9&limit=-1&bogus=1")
	_, err := ParseQuery(v)
	for _, want := range []string{"min_level 6 is above max_level 2", `type "9"`, `limit "-1"`, `unknown parameter "bogus"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
	sel := Selector{F: Filter{Limit: 2, Types: []int{5}}}
	takes := 0
	for ; !sel.Done() && takes < 10; takes++ {
		sel.Take("api", []byte(`{"entryType":1}`))
		sel.Take("api", rec)
	}
	if takes != 2 || sel.Shown() != 2 {
		t.Errorf("limit 2: done after %d rounds with %d shown", takes, sel.Shown())
	}
}

// numbered is a sink that numbers its records, as the disk queue does.
type numbered struct {
	memSink
	last uint64
}

func (n *numbered) AppendNumbered(ctx context.Context, recs [][]byte, before func(uint64)) error {
	n.last += uint64(len(recs))
	before(n.last)
	return n.memSink.Append(ctx, recs)
}
func (n *numbered) RecoveredSeq() uint64 { return 7 }

// The file input's provisional checkpoints need the queue's numbers through
// the tap; a sink without them must not seem to have them.
func TestSinkPassesSequenceNumbersThrough(t *testing.T) {
	type seqs interface {
		AppendNumbered(context.Context, [][]byte, func(uint64)) error
		RecoveredSeq() uint64
	}
	var h Hub
	next := &numbered{}
	s := h.Sink(next, "files")
	sq, ok := s.(seqs)
	if !ok {
		t.Fatal("the tap's sink hides the queue's sequence numbers")
	}
	fast := h.Subscribe(1 << 20)
	defer fast.Close()
	var last uint64
	if err := sq.AppendNumbered(context.Background(), [][]byte{[]byte("a"), []byte("b")}, func(l uint64) { last = l }); err != nil {
		t.Fatal(err)
	}
	if last != 2 || sq.RecoveredSeq() != 7 || len(next.got) != 2 || len(fast.Take()) != 1 {
		t.Errorf("last %d recovered %d, %d records; want 2, 7, 2, and the batch on the tap", last, sq.RecoveredSeq(), len(next.got))
	}
	if _, ok := h.Sink(&memSink{}, "api").(seqs); ok {
		t.Error("a sink without sequence numbers seems to have them")
	}
}
