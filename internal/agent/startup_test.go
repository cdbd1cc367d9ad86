package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/config"
)

// A failure while building the pipeline is returned as an error naming the
// cause, with everything opened so far released (no nil-pointer panic).
func TestNewReturnsStartupErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "d")
	cfg.Admin.Address = ""
	cfg.Outputs = []config.OutputConfig{{Type: "file", Path: filepath.Join(blocker, "x.ndjson")}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{})
	if err == nil || a != nil {
		t.Fatalf("New = %v, %v; want an error", a, err)
	}
	if !strings.Contains(err.Error(), "cannot open output file "+cfg.Outputs[0].Path) {
		t.Fatalf("error does not name the output file: %v", err)
	}
	// Everything was released: the data dir can be used at once.
	cfg.Outputs = []config.OutputConfig{{Type: "file", Path: filepath.Join(dir, "ok.ndjson")}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err = New(cfg, Options{})
	if err != nil {
		t.Fatalf("the failed New kept its locks: %v", err)
	}
	a.release()
}
