package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// entry is record number n, about 40 bytes long.
func entry(n int) []byte { return fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", 20)) }

// numbers returns the n of every line in path's files, oldest file first,
// and fails on a line that is not a whole entry.
func numbers(t *testing.T, path string, maxFiles int) []int {
	t.Helper()
	var out []int
	for i := maxFiles; i >= 0; i-- {
		name := path
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s ends in a torn line: %q", name, b[max(len(b)-40, 0):])
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var e struct{ N int }
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: line %q: %v", name, line, err)
			}
			out = append(out, e.N)
		}
	}
	return out
}

// exactlyOnce fails unless got is 0 .. n-1 in order.
func exactlyOnce(t *testing.T, got []int, n int) {
	t.Helper()
	ok := len(got) == n
	for i := 0; ok && i < n; i++ {
		ok = got[i] == i
	}
	if !ok {
		t.Fatalf("the files hold %v, want 0 to %d once each, in order", got, n-1)
	}
}

// abandon stands for a kill -9: the output's files stay as they are.
func abandon(o *Output) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.drop()
	for _, f := range o.toSync {
		f.Close()
	}
	o.toSync = nil
}

// writeBatches writes entries from..to-1 in batches of random sizes.
func writeBatches(t *testing.T, o *Output, rng *rand.Rand, from, to int) {
	t.Helper()
	for i := from; i < to; {
		n := min(1+rng.IntN(5), to-i)
		batch := make([][]byte, n)
		for j := range batch {
			batch[j] = entry(i + j)
		}
		if err := o.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		i += n
	}
}

// TestResumeWritesEachEntryOnce: the output is killed at random points
// (after writing past its last committed state, across rotations), and the
// next one resumes from that state and writes the rest again, as the queue
// delivers it. The files end up with every entry once, in order.
func TestResumeWritesEachEntryOnce(t *testing.T) {
	const total, maxFiles = 300, 80
	for seed := range uint64(15) {
		rng := rand.New(rand.NewPCG(seed, 1))
		path := filepath.Join(t.TempDir(), "entries.ndjson")
		opts := Options{Path: path, MaxSize: int64(300 + rng.IntN(500)), MaxFiles: maxFiles}
		o, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		o.Resume(nil)
		committed, state := 0, bytes.Clone(o.State())
		for committed < total {
			// Deliver and commit some, then write more that is not committed.
			next := min(committed+rng.IntN(40), total)
			writeBatches(t, o, rng, committed, next)
			committed, state = next, bytes.Clone(o.State())
			writeBatches(t, o, rng, committed, min(committed+rng.IntN(40), total))
			abandon(o)
			if o, err = New(opts); err != nil {
				t.Fatal(err)
			}
			o.Resume(state)
		}
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		exactlyOnce(t, numbers(t, path, maxFiles), total)
	}
}

// TestResumeAfterACrashInARotation: a crash between the steps of a rotation
// (older files shifted, path renamed to path.1, the new path created) or in
// the middle of a line leaves nothing twice after the next start.
func TestResumeAfterACrashInARotation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(path string) error
	}{
		{"torn line", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString(`{"n":99`)
			return err
		}},
		{"older files shifted", func(path string) error { return os.Rename(path+".1", path+".2") }},
		{"path renamed", func(path string) error {
			if err := os.Rename(path+".1", path+".2"); err != nil {
				return err
			}
			return os.Rename(path, path+".1")
		}},
		{"new file created", func(path string) error {
			if err := os.Rename(path+".1", path+".2"); err != nil {
				return err
			}
			if err := os.Rename(path, path+".1"); err != nil {
				return err
			}
			return os.WriteFile(path, append(entry(8), '\n'), 0o640)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "entries.ndjson")
			opts := Options{Path: path, MaxSize: 5 * int64(len(entry(0))+1), MaxFiles: 5}
			o, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := range 6 { // 0-4 in path.1, 5 in path
				if err := o.Write(ctx, [][]byte{entry(i)}); err != nil {
					t.Fatal(err)
				}
			}
			state := bytes.Clone(o.State())
			for i := 6; i < 8; i++ { // written, not committed
				if err := o.Write(ctx, [][]byte{entry(i)}); err != nil {
					t.Fatal(err)
				}
			}
			abandon(o)
			if err := tc.crash(path); err != nil {
				t.Fatal(err)
			}
			if o, err = New(opts); err != nil {
				t.Fatal(err)
			}
			o.Resume(state)
			for i := 6; i < 12; i++ {
				if err := o.Write(ctx, [][]byte{entry(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.Close(ctx); err != nil {
				t.Fatal(err)
			}
			exactlyOnce(t, numbers(t, path, opts.MaxFiles), 12)
		})
	}
}

// TestFailedWriteIsUndone: a batch that fails after the output rotated
// in the middle of it is written again in full without leaving its first
// part twice.
func TestFailedWriteIsUndone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entries.ndjson")
	line := int64(len(entry(0)) + 1)
	o, err := New(Options{Path: path, MaxSize: 3 * line, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := o.Write(ctx, [][]byte{entry(0), entry(1)}); err != nil {
		t.Fatal(err)
	}
	// The second rotation of the next batch fails: path.1 cannot be renamed
	// over a directory that is not empty.
	if err := os.MkdirAll(filepath.Join(path+".2", "in-the-way"), 0o750); err != nil {
		t.Fatal(err)
	}
	batch := [][]byte{entry(2), entry(3), entry(4), entry(5), entry(6), entry(7)}
	if err := o.Write(ctx, batch); err == nil {
		t.Fatal("the write succeeded although the rotation could not")
	}
	if err := os.RemoveAll(path + ".2"); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, batch); err != nil {
		t.Fatalf("the batch written again: %v", err)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, numbers(t, path, 2), 8)
}

// TestResumeWhenTheFileIsGone: when the file the state names is not there
// any more, the output keeps every file as it is and writes on.
func TestResumeWhenTheFileIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entries.ndjson")
	o, err := New(Options{Path: path, MaxSize: 1 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o.Write(ctx, [][]byte{entry(0)})
	state := bytes.Clone(o.State())
	o.Close(ctx)
	os.Remove(path)
	os.WriteFile(path+".1", append(entry(1), '\n'), 0o640) // someone else's
	o, err = New(Options{Path: path, MaxSize: 1 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	o.Resume(state)
	if err := o.Write(ctx, [][]byte{entry(2)}); err != nil {
		t.Fatal(err)
	}
	o.Close(ctx)
	if got := numbers(t, path, 1); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("the files hold %v, want [1 2]", got)
	}
}
