package faultfs_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/logflux/agent/internal/diskqueue/faultfs"
)

func write(t *testing.T, fsys *faultfs.FS, name string, data string, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Size()
	if _, err := f.WriteAt([]byte(data), size); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

func content(fsys *faultfs.FS, name string) string {
	b, err := fsys.ReadFile(name)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	fsys := faultfs.New()
	fsys.MkdirAll("/d", 0o755)
	write(t, fsys, "/d/a", "durable", true)
	write(t, fsys, "/d/b", "named but not synced", false)
	if err := fsys.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	write(t, fsys, "/d/a", "+lost", false)
	write(t, fsys, "/d/c", "synced data, unsynced name", true)

	c := fsys.CrashClone(nil)
	if got := content(c, "/d/a"); got != "durable" {
		t.Errorf("a after crash: %q", got)
	}
	if got := content(c, "/d/b"); got != "" {
		t.Errorf("b after crash: %q, want empty (its name was synced, its data not)", got)
	}
	if _, err := c.ReadFile("/d/c"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("c after crash: %v, want it missing (directory not synced)", err)
	}
	if got := content(fsys, "/d/a"); got != "durable+lost" {
		t.Errorf("the original is unchanged by the clone: %q", got)
	}
}

func TestRenameIsDurableAfterSyncDir(t *testing.T) {
	fsys := faultfs.New()
	fsys.MkdirAll("/d", 0o755)
	write(t, fsys, "/d/pos", "old", true)
	fsys.SyncDir("/d")
	write(t, fsys, "/d/pos.tmp", "new", true)
	if err := fsys.Rename("/d/pos.tmp", "/d/pos"); err != nil {
		t.Fatal(err)
	}
	if got := content(fsys.CrashClone(nil), "/d/pos"); got != "old" {
		t.Errorf("before SyncDir a crash leaves %q, want old", got)
	}
	fsys.SyncDir("/d")
	c := fsys.CrashClone(nil)
	if got := content(c, "/d/pos"); got != "new" {
		t.Errorf("after SyncDir a crash leaves %q, want new", got)
	}
	if names := c.Names(); !slices.Equal(names, []string{"/d/pos"}) {
		t.Errorf("names %v", names)
	}
}

func TestTornCrashOnlyTouchesUnsyncedBytes(t *testing.T) {
	for seed := range uint64(200) {
		fsys := faultfs.New()
		fsys.MkdirAll("/d", 0o755)
		write(t, fsys, "/d/f", "0123456789", true)
		fsys.SyncDir("/d")
		write(t, fsys, "/d/f", "abcdefghij", false)
		got := content(fsys.CrashClone(rand.New(rand.NewPCG(seed, 1))), "/d/f")
		if len(got) < 10 || got[:10] != "0123456789" || len(got) > 20 {
			t.Fatalf("seed %d: torn crash left %q", seed, got)
		}
	}
}

func TestCapacityAndHooks(t *testing.T) {
	fsys := faultfs.New()
	fsys.MkdirAll("/d", 0o755)
	fsys.SetCapacity(8)
	f, err := fsys.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.WriteAt([]byte("0123456789"), 0)
	if n != 8 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past capacity: %d, %v; want 8 bytes and ENOSPC", n, err)
	}
	fsys.SetHook(func(op faultfs.Op, _ string) error {
		if op == faultfs.OpSync {
			return faultfs.ErrInjected
		}
		return nil
	})
	if err := f.Sync(); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("sync with a failing hook: %v", err)
	}
	if got := fsys.Count(faultfs.OpSync); got != 1 {
		t.Errorf("sync count %d", got)
	}
}
