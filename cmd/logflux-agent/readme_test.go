package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's "Try it" commands work as written, with nothing but the agent
// (no nc, whose flags differ between systems), and print what it says.
func TestReadmeTryIt(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Try it")
	if !ok {
		t.Fatal("README has no Try it section")
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	dir := t.TempDir()
	p := startAgent(t, dir, "--admin-address", "off")
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if strings.HasPrefix(line, "go build") {
			continue // the test's agent binary is built already
		}
		if strings.Contains(line, "nc ") {
			t.Errorf("README example uses nc: %s", line)
		}
		lines = append(lines, line)
	}
	var catOut string
	for _, line := range lines {
		cmd := exec.Command("bash", "-c", strings.ReplaceAll(line, "./logflux-agent", bin))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LOGFLUX_AGENT_ADDR=unix://"+p.sock, "LOGFLUX_SHARED_SECRET=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		wantFail := strings.Contains(line, `"logLevel":12`)
		if (err != nil) != wantFail {
			t.Errorf("%s: %v (want failure: %v)\n%s", line, err, wantFail, out.String())
		}
		if wantFail && !strings.Contains(string(readme), strings.SplitN(out.String(), "\n", 2)[0]) {
			t.Errorf("%s prints %q, which the README does not show", line, out.String())
		}
		if strings.HasPrefix(line, "cat ") {
			catOut = out.String()
		}
	}
	for _, want := range []string{"disk almost full", "a raw Agent API entry"} {
		if !strings.Contains(catOut, want) {
			t.Errorf("%q not in the output file:\n%s", want, catOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "logflux-data", "entries.ndjson")); err != nil {
		t.Error(err)
	}
	p.stop(t)
}
