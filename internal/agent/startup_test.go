package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/components"
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
	load := func(path string) *config.Config {
		t.Helper()
		yml := "data_dir: " + filepath.Join(dir, "d") + "\nadmin: {address: off}\noutputs:\n  - type: file\n    path: " + path + "\n"
		cfg, err := config.Parse([]byte(yml), "test.yaml", func(string) string { return "" }, components.Registry())
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	bad := filepath.Join(blocker, "x.ndjson")
	cfg := load(bad)
	a, err := New(cfg, Options{})
	if err == nil || a != nil {
		t.Fatalf("New = %v, %v; want an error", a, err)
	}
	if !strings.Contains(err.Error(), "cannot open output file "+bad) {
		t.Fatalf("error does not name the output file: %v", err)
	}
	// Everything was released: the data dir can be used at once.
	a, err = New(load(filepath.Join(dir, "ok.ndjson")), Options{})
	if err != nil {
		t.Fatalf("the failed New kept its locks: %v", err)
	}
	a.release()
}
