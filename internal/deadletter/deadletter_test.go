package deadletter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logflux/agent/internal/deadletter"
	"github.com/logflux/agent/internal/logtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, opts deadletter.Options) *deadletter.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := deadletter.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// entries returns n JSON records {"n":<from+i>,…}.
func entries(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d,"payload":"entry number %d"}`, from+i, from+i)
	}
	return out
}

func list(t *testing.T, s *deadletter.Store) []deadletter.Item {
	t.Helper()
	var items []deadletter.Item
	if err := s.List(func(it deadletter.Item) error {
		items = append(items, it)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return items
}

func entryStrings(items []deadletter.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Entry)
	}
	return out
}

func strs(recs [][]byte) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r)
	}
	return out
}

func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "dl-*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPutStoresLinesAndListReadsThem(t *testing.T) {
	dir := t.TempDir()
	s := open(t, deadletter.Options{Dir: dir})
	before := time.Now().UTC()
	recs := [][]byte{
		[]byte(`{"payload":"a <b> & c","source":"auth"}`),
		[]byte("{\n  \"pretty\": [1, 2]\n}"),
		[]byte("not json \xff"),
	}
	if err := s.Put("forwarder", recs, errors.New("permanent: 400 bad entry")); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(dataFiles(t, dir)[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), raw)
	}
	var first struct {
		Output, Reason, At string
		Entry              json.RawMessage
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lines[0], `{"output":"forwarder","reason":"permanent: 400 bad entry","at":"`) ||
		!strings.HasSuffix(lines[0], `","entry":{"payload":"a <b> & c","source":"auth"}}`) {
		t.Errorf("line is not in the documented shape (entry verbatim):\n%s", lines[0])
	}
	at, err := time.Parse(time.RFC3339, first.At)
	if err != nil || !strings.HasSuffix(first.At, "Z") || at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("at %q is not the time of the Put in RFC 3339 UTC (%v)", first.At, err)
	}
	if !strings.Contains(lines[1], `"entry":{"pretty":[1,2]}`) {
		t.Errorf("multi-line JSON record not compacted onto its line: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"entry_base64":`) {
		t.Errorf("non-JSON record not kept as base64: %s", lines[2])
	}

	items := list(t, s)
	want := []string{`{"payload":"a <b> & c","source":"auth"}`, `{"pretty":[1,2]}`, "not json \xff"}
	if got := entryStrings(items); !slices.Equal(got, want) {
		t.Errorf("listed entries %q, want %q", got, want)
	}
	for _, it := range items {
		if it.Output != "forwarder" || it.Reason != "permanent: 400 bad entry" || it.At.Location() != time.UTC {
			t.Errorf("item %+v", it)
		}
	}
	if st := s.Stats(); st.Entries != 3 || st.Bytes != int64(len(raw)) || st.Files != 1 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestEntriesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := deadletter.Open(deadletter.Options{Dir: dir, FileBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Put("out", entries(i*2, 2), errors.New("nope")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Put("out", entries(0, 1), nil); !errors.Is(err, deadletter.ErrClosed) {
		t.Fatalf("put after close: %v, want ErrClosed", err)
	}

	s = open(t, deadletter.Options{Dir: dir, FileBytes: 200})
	if got, want := entryStrings(list(t, s)), strs(entries(0, 10)); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %q, want %q", got, want)
	}
	if st := s.Stats(); st.Entries != 10 || st.Files < 2 {
		t.Errorf("stats %+v, want 10 entries over several files", st)
	}
	if err := s.Put("out", entries(10, 1), nil); err != nil {
		t.Fatal(err)
	}
	if got := len(list(t, s)); got != 11 {
		t.Errorf("%d entries after another put, want 11", got)
	}
}

func TestCapDropsOldestFilesAndCountsThem(t *testing.T) {
	dir := t.TempDir()
	logs, log := logtest.New()
	s := open(t, deadletter.Options{Dir: dir, MaxBytes: 4 << 10, FileBytes: 1 << 10, Logger: log})
	const total = 200
	for i := range total {
		if err := s.Put("out", entries(i, 1), errors.New("refused")); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Bytes > 4<<10 {
		t.Errorf("store holds %d bytes, cap 4096", st.Bytes)
	}
	if st.Dropped == 0 || st.Entries+st.Dropped != total {
		t.Errorf("stats %+v: entries + dropped should be %d, with some dropped", st, total)
	}
	got := entryStrings(list(t, s))
	if want := strs(entries(total-len(got), len(got))); !slices.Equal(got, want) {
		t.Errorf("kept entries are not the newest, in order: %q", got)
	}
	if int64(len(got)) != st.Entries {
		t.Errorf("listed %d entries, stats say %d", len(got), st.Entries)
	}
	if !strings.Contains(logs.String(), "dropped its oldest entries") || !strings.Contains(logs.String(), fmt.Sprintf("dropped_total=%d", st.Dropped)) {
		t.Errorf("drops not logged with their count:\n%s", logs)
	}
	var size int64
	for _, f := range dataFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	if size != st.Bytes {
		t.Errorf("files hold %d bytes, stats say %d", size, st.Bytes)
	}
}

func TestPartialLineIsCutAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := deadletter.Open(deadletter.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("out", entries(0, 3), errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := dataFiles(t, dir)[0]
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(slices.Clone(good), `{"output":"out","rea`...), 0o644); err != nil {
		t.Fatal(err)
	}

	s = open(t, deadletter.Options{Dir: dir})
	if got := entryStrings(list(t, s)); !slices.Equal(got, strs(entries(0, 3))) {
		t.Errorf("after a torn write: %q", got)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Errorf("partial line not cut off: %q", now[len(good):])
	}
	if st := s.Stats(); st.Entries != 3 || st.Damaged != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDamagedLineIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	s, err := deadletter.Open(deadletter.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("out", entries(0, 2), errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := dataFiles(t, dir)[0]
	good, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(good, []byte("\n"))
	damaged := slices.Concat(lines[0], []byte("garbage that is not json\n"), lines[1])
	if err := os.WriteFile(path, damaged, 0o644); err != nil {
		t.Fatal(err)
	}

	s = open(t, deadletter.Options{Dir: dir})
	if got := entryStrings(list(t, s)); !slices.Equal(got, strs(entries(0, 2))) {
		t.Errorf("listed %q", got)
	}
	if st := s.Stats(); st.Damaged != 1 {
		t.Errorf("stats %+v, want 1 damaged line", st)
	}
	var sent []string
	n, err := s.Replay(context.Background(), func(_ context.Context, recs [][]byte) error {
		sent = append(sent, strs(recs)...)
		return nil
	}, nil)
	if err != nil || n != 2 || !slices.Equal(sent, strs(entries(0, 2))) {
		t.Errorf("replay: %d, %v, sent %q", n, err, sent)
	}
	if st := s.Stats(); st.Entries != 0 || st.Files != 0 {
		t.Errorf("after replay: %+v", st)
	}
}

func TestListStopsAtError(t *testing.T) {
	s := open(t, deadletter.Options{Dir: t.TempDir()})
	if err := s.Put("out", entries(0, 5), nil); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	seen := 0
	err := s.List(func(deadletter.Item) error {
		seen++
		if seen == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 2 {
		t.Errorf("List returned %v after %d items, want the callback's error after 2", err, seen)
	}
}

// collector is a send function that records batches and can fail on a given call.
type collector struct {
	mu     sync.Mutex
	calls  int
	failOn int // 1-based call that fails; 0: none
	sent   []string
	sizes  []int
}

func (c *collector) send(_ context.Context, recs [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls == c.failOn {
		return errors.New("server unavailable")
	}
	c.sent = append(c.sent, strs(recs)...)
	c.sizes = append(c.sizes, len(recs))
	return nil
}

func TestReplaySendsEverythingOnceAndRemovesIt(t *testing.T) {
	dir := t.TempDir()
	s := open(t, deadletter.Options{Dir: dir, FileBytes: 8 << 10})
	for i := range 25 {
		if err := s.Put("out", entries(i*10, 10), errors.New("refused")); err != nil {
			t.Fatal(err)
		}
	}
	var progress [][2]int
	c := &collector{}
	n, err := s.Replay(context.Background(), c.send, func(done, total int) { progress = append(progress, [2]int{done, total}) })
	if err != nil || n != 250 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	if !slices.Equal(c.sent, strs(entries(0, 250))) {
		t.Errorf("replayed entries out of order or repeated")
	}
	for _, size := range c.sizes {
		if size > deadletter.DefaultReplayBatch {
			t.Errorf("batch of %d entries, more than %d", size, deadletter.DefaultReplayBatch)
		}
	}
	if last := progress[len(progress)-1]; last != [2]int{250, 250} {
		t.Errorf("last progress %v, want [250 250]", last)
	}
	if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 || st.Files != 0 {
		t.Errorf("stats after replay %+v", st)
	}
	if files := dataFiles(t, dir); len(files) != 0 {
		t.Errorf("files left after replay: %v", files)
	}
	if n, err := s.Replay(context.Background(), c.send, nil); n != 0 || err != nil {
		t.Errorf("second replay: %d, %v", n, err)
	}
}

func TestInterruptedReplayResumesWithoutRepeating(t *testing.T) {
	dir := t.TempDir()
	opts := deadletter.Options{Dir: dir, FileBytes: 8 << 10, ReplayBatch: 30}
	s, err := deadletter.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.Put("out", entries(i*10, 10), errors.New("refused")); err != nil {
			t.Fatal(err)
		}
	}
	c := &collector{failOn: 3}
	n, err := s.Replay(context.Background(), c.send, nil)
	if err == nil || !strings.Contains(err.Error(), "server unavailable") || n != 60 {
		t.Fatalf("replay with a failing send: %d, %v; want 60 sent and the send error", n, err)
	}
	if st := s.Stats(); st.Entries != 40 {
		t.Errorf("after the failure %d entries left, want 40", st.Entries)
	}

	// A restart in between: the progress is on disk.
	s.Close()
	s = open(t, opts)
	if got := entryStrings(list(t, s)); !slices.Equal(got, strs(entries(60, 40))) {
		t.Errorf("after reopen the store lists %d entries starting %q, want 60..99", len(got), got[:1])
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err = s.Replay(ctx, c.send, func(done, total int) {
		if total != 40 {
			t.Errorf("progress total %d, want 40", total)
		}
		cancel() // stop after the first batch
	})
	if !errors.Is(err, context.Canceled) || n != 30 {
		t.Fatalf("cancelled replay: %d, %v; want 30 and context.Canceled", n, err)
	}
	n, err = s.Replay(context.Background(), c.send, nil)
	if err != nil || n != 10 {
		t.Fatalf("final replay: %d, %v", n, err)
	}
	if !slices.Equal(c.sent, strs(entries(0, 100))) {
		t.Errorf("over three replays %d entries were sent; want each of the 100 exactly once", len(c.sent))
	}
}

func TestPutDuringReplayIsKeptForLater(t *testing.T) {
	s := open(t, deadletter.Options{Dir: t.TempDir()})
	if err := s.Put("out", entries(0, 5), nil); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	n, err := s.Replay(context.Background(), func(ctx context.Context, recs [][]byte) error {
		if err := s.Put("out", entries(100, 1), errors.New("refused again")); err != nil {
			return err
		}
		return c.send(ctx, recs)
	}, nil)
	if err != nil || n != 5 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	if got := entryStrings(list(t, s)); !slices.Equal(got, strs(entries(100, 1))) {
		t.Errorf("left after replay: %q, want the entry stored during it", got)
	}
}

func TestStaleReplayPositionIsCleared(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "replay.pos"), []byte(`{"file":"dl-00000000000000000001.ndjson","offset":100}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := open(t, deadletter.Options{Dir: dir})
	if err := s.Put("out", entries(0, 3), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, deadletter.Options{Dir: dir})
	if got := len(list(t, s)); got != 3 {
		t.Errorf("%d entries listed; a stale replay position must not skip any of the 3", got)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	_, err := deadletter.Open(deadletter.Options{MaxBytes: -1, ReplayBatch: -2})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"dir is required", "max bytes", "replay batch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// A read-only store lists what the store holding the directory wrote,
// while that store keeps writing, and changes nothing on disk: a line being
// written is neither listed nor cut off, and Put and Replay are refused.
func TestReadOnlyListsBesideTheWriter(t *testing.T) {
	dir := t.TempDir()
	w := open(t, deadletter.Options{Dir: dir})
	if err := w.Put("out", entries(0, 3), errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	path := dataFiles(t, dir)[0]
	good, _ := os.ReadFile(path)
	// The writer is half-way through its next line.
	torn := append(slices.Clone(good), `{"output":"out","rea`...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	r, err := deadletter.OpenReadOnly(deadletter.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := entryStrings(list(t, r)); !slices.Equal(got, strs(entries(0, 3))) {
		t.Errorf("read-only list: %q", got)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, torn) {
		t.Errorf("the read-only store changed the writer's file: %q", now)
	}
	if err := r.Put("out", entries(9, 1), nil); !errors.Is(err, deadletter.ErrReadOnly) {
		t.Errorf("Put: %v", err)
	}
	if _, err := r.Replay(context.Background(), func(context.Context, [][]byte) error { return nil }, nil); !errors.Is(err, deadletter.ErrReadOnly) {
		t.Errorf("Replay: %v", err)
	}
	if st := r.Stats(); st.Entries != 3 {
		t.Errorf("stats %+v", st)
	}

	// A directory nothing was ever refused into is an empty store, and is
	// not created.
	missing := filepath.Join(dir, "none")
	e, err := deadletter.OpenReadOnly(deadletter.Options{Dir: missing})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if n := len(list(t, e)); n != 0 {
		t.Errorf("%d entries in a missing store", n)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open created %s", missing)
	}
}
