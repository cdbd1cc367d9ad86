package file

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
)

// TestCheckpointRoundTrip: what saveCheckpoint writes reads back as the
// same offsets, for paths with characters JSON escapes and bytes that are
// not UTF-8 (which become U+FFFD, as encoding/json writes them), and for
// entries without a seed (an older checkpoint's).
func TestCheckpointRoundTrip(t *testing.T) {
	files := []fileOffsets{
		{Path: "/var/log/app.log", Dev: 2049, Ino: 131, FPLen: 1024, FP: "00ff", Offset: 5120, Seed: "abcd"},
		{Path: "/logs/\"quoted\" \\back\\ tab\tnl\nctl\x01 é <&>", Dev: 1 << 63, Ino: 1<<64 - 1, FPLen: 0, FP: "", Offset: 0},
		{Path: "/logs/bad\xff\xfe.log", Dev: 0, Ino: 7, FPLen: 64, FP: "ee", Offset: 1<<62 + 3, Seed: "01"},
	}
	path := filepath.Join(t.TempDir(), "x.offsets.json")
	buf, err := saveCheckpoint(path, files, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, found, err := loadCheckpoint(path)
	if err != nil || !found || cf.Gen != 7 {
		t.Fatalf("load: %v, found %v, gen %d; file %s", err, found, cf.Gen, buf)
	}
	got := cf.Files
	// encoding/json's reading of its own writing is the reference.
	ref, _ := json.Marshal(checkpointFile{Version: checkpointVersion, Files: files})
	var want checkpointFile
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want.Files) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfile %s", got, want.Files, buf)
	}
	if got[0] != files[0] || got[1] != files[1] {
		t.Errorf("valid paths changed: %+v", got[:2])
	}
	// No files at all is a checkpoint too.
	if _, err := saveCheckpoint(path, nil, 8, buf); err != nil {
		t.Fatal(err)
	}
	if got, found, err := loadCheckpoint(path); err != nil || !found || len(got.Files) != 0 || got.Gen != 8 {
		t.Fatalf("empty: %+v %v %v", got, found, err)
	}
}
