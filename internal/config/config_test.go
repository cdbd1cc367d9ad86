package config_test

import (
	"github.com/logflux/agent/internal/components"
	. "github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/output/file"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestDefaultIsValid(t *testing.T) {
	c, err := Load("", noEnv, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the default configuration is not valid: %v", err)
	}
	if c.TCPEnabled() {
		t.Error("TCP must be off by default")
	}
	if len(c.Outputs) != 1 || c.Outputs[0].Settings.(*file.Config).Path != filepath.Join("logflux-data", "entries.ndjson") {
		t.Errorf("default outputs %+v", c.Outputs)
	}
}

// TestExampleFile keeps docs/logflux-agent.example.yaml true: it must load,
// be valid, and say what the defaults say.
func TestExampleFile(t *testing.T) {
	c, err := Load("../../docs/logflux-agent.example.yaml", noEnv, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example is not valid: %v", err)
	}
	if len(c.Outputs) != 1 || c.Outputs[0].Type != "file" || len(c.Inputs) != 0 {
		t.Errorf("example outputs %+v, inputs %+v: the defaults are one file output and no more inputs", c.Outputs, c.Inputs)
	}
	d := Default(components.Registry())
	if c.Unix != d.Unix && (c.Unix.Path != d.Unix.Path || c.Unix.Mode != d.Unix.Mode) {
		t.Errorf("example unix %+v, defaults %+v", c.Unix, d.Unix)
	}
	if c.Limits != d.Limits || c.Queue.MaxBytes != d.Queue.MaxBytes || c.Queue.WhenFull != d.Queue.WhenFull || c.Log != d.Log || c.Shutdown != d.Shutdown {
		t.Errorf("example disagrees with the defaults:\n%+v\n%+v", c, d)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("unix:\n  path: /tmp/from-file.sock\nqueue:\n  max_bytes: 64MiB\n"), 0o644)
	env := map[string]string{"LOGFLUX_UNIX_PATH": "/tmp/from-env.sock", "LOGFLUX_QUEUE_MAX_BYTES": "512MiB"}
	c, err := Load(path, func(k string) string { return env[k] }, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if c.Unix.Path != "/tmp/from-env.sock" || c.Queue.MaxBytes != 512<<20 {
		t.Errorf("env did not override: %+v %v", c.Unix, c.Queue.MaxBytes)
	}
	env["LOGFLUX_QUEUE_MAX_BYTES"] = "lots"
	if _, err := Load(path, func(k string) string { return env[k] }, components.Registry()); err == nil || !strings.Contains(err.Error(), "LOGFLUX_QUEUE_MAX_BYTES") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestValidateReportsAllWithLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte(`tcp:
  address: 10.0.0.1:9999
  shared_secret: x
limits:
  max_batch_entries: 0
outputs:
  - type: file
    max_files: -1
  - {type: stdout, name: file}
`), 0o644)
	c, err := Load(path, noEnv, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		path + ":2: tcp.address: 10.0.0.1:9999 is not a loopback address",
		path + ":3: tcp.shared_secret: must be at least 32 characters",
		path + ":5: limits.max_batch_entries",
		path + ":8: outputs[0].max_files",
		path + `:9: outputs[1].name: "file" is used by two outputs`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30, "2MB": 2000000, "1.5MiB": 3 << 19} {
		var b ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%s: %d %v, want %d", in, b, err, want)
		}
	}
	var b ByteSize
	if err := b.Set("-1"); err == nil {
		t.Error("negative size accepted")
	}
}

// FuzzDecode: no YAML input may crash the loader or the validator.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("unix:\n  path: /tmp/a.sock\n  mode: \"0660\"\nqueue:\n  max_bytes: 64MiB\n"))
	f.Add([]byte("outputs:\n  - {type: file, path: x, max_size: 1KiB}\n  - type: logflux\n    api_key: eu-lf_abc\n"))
	f.Add([]byte("tcp: {enabled: true, address: '[::1]:9', shared_secret: x}\nlimits: {max_line_bytes: -1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", noEnv, components.Registry())
		if err != nil {
			return
		}
		if err := c.Finish(); err != nil {
			return
		}
		_ = c.Validate()
	})
}

func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"1", "16MiB", "1.5GiB", "2KB", "-3", "1e30", "NaN", "9999999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b ByteSize
		if err := b.Set(s); err == nil && b < 0 {
			t.Fatalf("%q parsed to a negative size %d", s, b)
		}
	})
}

// A bad redact section is reported with the file and line of each problem.
func TestRedactProblemsHaveLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(path, []byte("redact:\n  detectors: [card, nope]\n  rules:\n    - name: emp\n      pattern: 'EMP-[0-9'\n"), 0o600)
	c, err := Load(path, func(string) string { return "" }, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	c.Finish()
	err = c.Validate()
	for _, want := range []string{
		path + `:2: redact.detectors[1]: unknown detector "nope"`,
		path + `:5: redact.rules[0].pattern: invalid at offset 4 ("[0-9"): missing closing ]`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// `redact:` with nothing under it turns the defaults on.
	os.WriteFile(path, []byte("redact:\n"), 0o600)
	if c, err = Load(path, func(string) string { return "" }, components.Registry()); err != nil || c.Redact == nil {
		t.Errorf("empty redact section: %+v, %v", c.Redact, err)
	}
}
