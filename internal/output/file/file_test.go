package file

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRotationKeepsAtMostMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "entries.ndjson")
	o, err := New(Options{Path: path, MaxSize: 100, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		rec := []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 30)))
		if err := o.Write(ctx, [][]byte{rec}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(path + "*")
	if len(names) != 3 {
		t.Fatalf("files %v, want the current one and 2 rotated", names)
	}
	for _, name := range names {
		st, _ := os.Stat(name)
		if st.Size() > 100 {
			t.Errorf("%s has %d bytes, over max_size", name, st.Size())
		}
	}
	cur, _ := os.ReadFile(path)
	newest, _ := os.ReadFile(path + ".1")
	if !strings.Contains(string(cur), `"n":9`) || !strings.Contains(string(newest), `"n":7`) {
		t.Errorf("rotation order wrong:\ncurrent %s\n.1 %s", cur, newest)
	}
}

func TestAppendsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.ndjson")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		o, err := New(Options{Path: path, MaxSize: 1 << 20, MaxFiles: 1, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		o.Write(ctx, [][]byte{[]byte(fmt.Sprintf(`{"run":%d}`, i))})
		o.Close(ctx)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{\"run\":0}\n{\"run\":1}\n" {
		t.Fatalf("file %q", b)
	}
}

func TestWriteErrorIsRetryableAndRecovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gone", "e.ndjson")
	o, err := New(Options{Path: path, MaxSize: 1 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o.Close(ctx) // simulate a lost file handle
	os.RemoveAll(filepath.Dir(path))
	if err := o.Write(ctx, [][]byte{[]byte(`{}`)}); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	os.MkdirAll(filepath.Dir(path), 0o750)
	if err := o.Write(ctx, [][]byte{[]byte(`{"ok":1}`)}); err != nil {
		t.Fatalf("did not recover: %v", err)
	}
	o.Close(ctx)
}

// TestTornLastLineIsCutOff: a crash in the middle of a write leaves a partial
// line; the next start removes it so that the next entry does not glue onto
// it (its entries are written again, as they were never confirmed).
func TestTornLastLineIsCutOff(t *testing.T) {
	for _, tc := range []struct{ before, want string }{
		{"{\"a\":1}\n{\"b\":", "{\"a\":1}\n{\"c\":3}\n"},
		{"{\"torn", "{\"c\":3}\n"},
		{"{\"a\":1}\n", "{\"a\":1}\n{\"c\":3}\n"},
		{strings.Repeat("x", 200000) + "\n" + strings.Repeat("y", 100000), strings.Repeat("x", 200000) + "\n{\"c\":3}\n"},
	} {
		path := filepath.Join(t.TempDir(), "e.ndjson")
		os.WriteFile(path, []byte(tc.before), 0o640)
		o, err := New(Options{Path: path, MaxSize: 1 << 30, MaxFiles: 1})
		if err != nil {
			t.Fatal(err)
		}
		o.Write(context.Background(), [][]byte{[]byte(`{"c":3}`)})
		o.Close(context.Background())
		if b, _ := os.ReadFile(path); string(b) != tc.want {
			t.Errorf("after %.40q: file is %.60q, want %.60q", tc.before, b, tc.want)
		}
	}
}

// allocated returns the disk space the file at path holds, in bytes.
func allocated(t *testing.T, path string) (size, disk int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size(), st.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestReservedSpaceIsGivenBack: the output reserves disk ahead of its writes
// without changing what readers see (the file's size is what was written),
// and gives the rest back at rotation, at Close, and at the next start after
// a crash.
func TestReservedSpaceIsGivenBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.ndjson")
	ctx := context.Background()
	rec := []byte(`{"pad":"` + strings.Repeat("x", 990) + `"}`) // 1000 bytes and a newline
	write := func(o *Output, n int) {
		t.Helper()
		for range n {
			if err := o.Write(ctx, [][]byte{rec}); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, err := New(Options{Path: path, MaxSize: 8 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	write(o, 100)
	size, disk := allocated(t, path)
	if size != 100*1001 {
		t.Fatalf("file has %d bytes, want the %d written", size, 100*1001)
	}
	if disk < 1<<20 {
		o.Close(ctx)
		t.Skipf("the filesystem holds %d bytes for a %d-byte file: it does not reserve space", disk, size)
	}
	// Rotation: the rotated file keeps only its own blocks.
	write(o, 8<<20/1001)
	if size, disk := allocated(t, path+".1"); disk > size+64<<10 {
		t.Errorf("rotated file holds %d bytes of disk for %d bytes", disk, size)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if size, disk := allocated(t, path); disk > size+64<<10 {
		t.Errorf("after Close the file holds %d bytes of disk for %d bytes", disk, size)
	}

	// A crash (no Close) leaves the reservation; the next start gives it back.
	crashed, err := New(Options{Path: path, MaxSize: 8 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	write(crashed, 10)
	if _, disk := allocated(t, path); disk < 1<<20 {
		t.Fatalf("no reservation to give back: %d bytes of disk", disk)
	}
	next, err := New(Options{Path: path, MaxSize: 8 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	if size, disk := allocated(t, path); disk > size+64<<10 {
		t.Errorf("after a restart the file holds %d bytes of disk for %d bytes", disk, size)
	}
	next.Close(ctx)
	crashed.f.Close()
}

// TestAppendOnlyFile: a file marked append-only (chattr +a), which can be
// neither truncated nor given a reservation, is still written to.
func TestAppendOnlyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.ndjson")
	if err := os.WriteFile(path, []byte("{\"old\":1}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+a", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make the file append-only here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-a", path).Run() })
	ctx := context.Background()
	for range 2 { // the second start finds the file as the first left it
		o, err := New(Options{Path: path, MaxSize: 1 << 30, MaxFiles: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Write(ctx, [][]byte{[]byte(`{"new":1}`)}); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "{\"old\":1}\n{\"new\":1}\n{\"new\":1}\n" {
		t.Errorf("file is %q", b)
	}
}

// An output that has not written for ReleaseIdle gives its reservation back,
// and takes one again at its next write.
func TestIdleOutputGivesReservationBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.ndjson")
	ctx := context.Background()
	rec := []byte(`{"pad":"` + strings.Repeat("x", 990) + `"}`)
	o, err := New(Options{Path: path, ReleaseIdle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	if err := o.Write(ctx, [][]byte{rec, rec}); err != nil {
		t.Fatal(err)
	}
	if _, disk := allocated(t, path); disk < 1<<20 {
		t.Skipf("the filesystem holds %d bytes: it does not reserve space", disk)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		size, disk := allocated(t, path)
		if disk <= size+64<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle for 10 s, the file still holds %d bytes of disk for %d bytes", disk, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := o.Write(ctx, [][]byte{rec}); err != nil {
		t.Fatal(err)
	}
	if size, disk := allocated(t, path); size != 3*1001 || disk < 1<<20 {
		t.Fatalf("after writing again: %d bytes in the file (want %d), %d of disk (want a reservation)", size, 3*1001, disk)
	}
}

// TestReservationYieldsToAFullingDisk: with little space free the output
// reserves at most a share of it, and gives back what it holds once the
// free space shrinks, so that the queue beside it never fails first.
func TestReservationYieldsToAFillingDisk(t *testing.T) {
	free := int64(1 << 30)
	freeSpace = func(*os.File) (int64, bool) { return free, true }
	defer func() { freeSpace = statFree }()
	path := filepath.Join(t.TempDir(), "e.ndjson")
	ctx := context.Background()
	o, err := New(Options{Path: path, MaxSize: 64 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	rec := []byte(`{"pad":"` + strings.Repeat("x", 990) + `"}`)
	if err := o.Write(ctx, [][]byte{rec}); err != nil {
		t.Fatal(err)
	}
	if o.noReserve {
		t.Skip("this filesystem cannot reserve space")
	}
	if held := o.reserved - o.size; held < reserveStep/2 {
		t.Fatalf("with 1 GiB free the output holds only %d bytes ahead", held)
	}
	// The disk fills (the queue wrote): the reservation is given back at
	// the next write, and no new one takes more than the share allowed.
	free = 4 << 20
	o.roomChecked = time.Time{}
	if err := o.Write(ctx, [][]byte{rec}); err != nil {
		t.Fatal(err)
	}
	if o.reserved > o.size {
		t.Fatalf("with 4 MiB free the output still holds %d bytes ahead", o.reserved-o.size)
	}
	for range 20 {
		o.Write(ctx, [][]byte{rec})
	}
	if held := o.reserved - o.size; held > free/reserveShare {
		t.Fatalf("with %d bytes free the output reserved %d", free, held)
	}
	if size, disk := allocated(t, path); disk > size+free/reserveShare+64<<10 {
		t.Fatalf("the file holds %d bytes of disk for %d bytes", disk, size)
	}
}
