package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/agent"
)

// runCLI runs one command in process and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = Main(env, args)
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An output file that cannot be opened stops the agent with one line that
// names it, exit status 1 and no panic.
func TestStartUnopenableOutputIsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	// A regular file where the output's directory should be: neither
	// validate nor the agent can create the directory under it.
	writeFile(t, filepath.Join(dir, "blocker"), "")
	cfgPath := filepath.Join(dir, "o.yaml")
	writeFile(t, cfgPath, "outputs:\n  - type: file\n    path: "+filepath.Join(dir, "blocker", "x.ndjson")+"\n")
	args := []string{"--config", cfgPath, "--unix-path", filepath.Join(dir, "a.sock"), "--data-dir", filepath.Join(dir, "d"), "--admin-address", "off"}

	_, errOut, code := runCLI(t, "validate", "--config", cfgPath)
	if code != 1 || !strings.Contains(errOut, "outputs[0].path") || !strings.Contains(errOut, "blocker") {
		t.Fatalf("validate should refuse an output directory it cannot create: exit %d\n%s", code, errOut)
	}

	// run validates too; the agent's own open is checked with the same
	// directory made unwritable after validation, by agent.New directly.
	_, errOut, code = runCLI(t, append([]string{"run"}, args...)...)
	if code == 0 || strings.Contains(errOut, "panic") || !strings.Contains(errOut, "blocker") {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
}

// A second agent on a data dir in use names the directory and the pid
// holding it, exits 1, and prints no stack trace.
func TestSecondAgentOnUsedDataDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	held, err := agent.LockDir(filepath.Join(data, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, errOut, code := runCLI(t, "run", "--unix-path", filepath.Join(dir, "a.sock"), "--data-dir", data, "--admin-address", "off")
	want := fmt.Sprintf("data dir %s is in use by another agent (pid %d)", data, os.Getpid())
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(errOut, "goroutine") {
		t.Fatalf("exit %d, want 1 and %q in:\n%s", code, want, errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		t.Fatalf("want one line, got %d:\n%s", n+1, errOut)
	}
}

// --help and -h list the commands and exit 0; a command's --help exits 0.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, code := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Commands:") || !strings.Contains(out, "validate") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{{"send", "--help"}, {"ping", "-h"}, {"run", "--help"}} {
		if _, errOut, code := runCLI(t, args...); code != 0 || !strings.Contains(errOut, "-") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if out, _, code := runCLI(t, "version", "--help"); code != 0 || !strings.Contains(out, "Usage: logflux-agent version") {
		t.Errorf("version --help: exit %d %q", code, out)
	}
}

// Each command's --help lists the flags it takes and none of another's.
func TestHelpListsOnlyTheCommandsOwnFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"run", "--help"}, []string{"-config", "-unix-path", "-stdout", "-admin-address"}, []string{"-json", "-output"}},
		{[]string{"--config", "x", "--help"}, []string{"-unix-path"}, nil},
		{[]string{"validate", "--help"}, []string{"Usage: logflux-agent validate", "-config"}, []string{"-unix-path", "-tcp-address", "-stdout", "-log-level", "-data-dir", "-admin-address", "-queue", "-shared-secret"}},
		{[]string{"dlq", "list", "--help"}, []string{"-config", "-data-dir", "-json"}, []string{"-output", "-unix-path", "-stdout", "-log-level"}},
		{[]string{"dlq", "replay", "-h"}, []string{"-config", "-data-dir", "-output"}, []string{"-json", "-unix-path", "-stdout", "-log-level"}},
		{[]string{"ping", "--help"}, []string{"Usage: logflux-agent ping", "-addr"}, []string{"-config", "-source"}},
		{[]string{"send", "--help"}, []string{"-addr", "-source"}, []string{"-config", "-unix-path"}},
	} {
		out, errOut, code := runCLI(t, tc.args...)
		help := out + errOut
		if code != 0 {
			t.Errorf("%v: exit %d", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(help, w) {
				t.Errorf("%v: %q missing from:\n%s", tc.args, w, help)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(help, n+" ") || strings.Contains(help, n+"\n") {
				t.Errorf("%v: lists %q, a flag it does not take:\n%s", tc.args, n, help)
			}
		}
	}
	// What validate no longer lists, it no longer takes.
	if _, errOut, code := runCLI(t, "validate", "--unix-path", "/tmp/x.sock"); code != 2 || !strings.Contains(errOut, "flag provided but not defined") {
		t.Errorf("validate --unix-path: exit %d\n%s", code, errOut)
	}
}
