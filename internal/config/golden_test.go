package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/components"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/input/agentapi"
	"github.com/logflux/agent/internal/output/file"
)

var update = flag.Bool("update", false, "rewrite the .golden files from what Validate says")

// goldenEnv is the environment the fixtures are read with.
func goldenEnv(k string) string {
	return map[string]string{"LOGFLUX_TEST_KEEP": "7"}[k]
}

// TestGolden: every testdata/*.bad.yaml gives exactly its .golden list of
// problems (one run, sorted by line, FILE:LINE: key: message); every
// *.good.yaml is valid.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := problems(t, path)
			if strings.HasSuffix(path, ".good.yaml") {
				if got != "" {
					t.Fatalf("a good fixture is not valid:\n%s", got)
				}
				return
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("validate says:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func problems(t *testing.T, path string) string {
	t.Helper()
	c, err := config.Load(path, goldenEnv, components.Registry())
	if err != nil {
		return err.Error() + "\n"
	}
	if err := c.Finish(); err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	if err := c.Validate(); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			b.WriteString(e.Error() + "\n")
		}
	}
	return b.String()
}

// TestFeaturesFixture: what the good fixture's features mean.
func TestFeaturesFixture(t *testing.T) {
	c, err := config.Load("testdata/features.good.yaml", goldenEnv, components.Registry())
	if err != nil {
		t.Fatal(err)
	}
	c.Finish()
	if c.Admin.Address != "" || !c.Admin.Explicit() {
		t.Errorf("admin.address: off gave %q (explicit %v); want it off", c.Admin.Address, c.Admin.Explicit())
	}
	if c.DataDir != "/tmp/logflux-golden" {
		t.Errorf("data_dir %q: the ${VAR:-default} default was not used", c.DataDir)
	}
	in := c.Inputs[0].Settings.(*agentapi.Config)
	if in.Unix.Path != "/tmp/audit.sock" || in.Unix.Mode != 0o600 || in.Limits.MaxLineBytes != 64<<10 {
		t.Errorf("input %+v", in)
	}
	severe := c.Outputs[1]
	if fc := severe.Settings.(*file.Config); fc.MaxFiles != 7 || fc.Path != "${LITERAL}/severe.ndjson" {
		t.Errorf("severe output %+v: ${VAR} as a number, or $${ as a literal, not applied", fc)
	}
	if severe.Match.MaxLevel != 4 || severe.Match.Metadata["env"] != "prod" || c.Outputs[0].Match.EntryTypes[0] != 5 {
		t.Errorf("matches %+v %+v", c.Outputs[0].Match, severe.Match)
	}
}

// TestAdminOffEverywhere: "off" means the same in the file, the environment
// and the flag (one parser).
func TestAdminOffEverywhere(t *testing.T) {
	for name, env := range map[string]map[string]string{"env": {"LOGFLUX_ADMIN_ADDRESS": "off"}, "env OFF": {"LOGFLUX_ADMIN_ADDRESS": "OFF"}} {
		c, err := config.Parse(nil, "", func(k string) string { return env[k] }, components.Registry())
		if err != nil {
			t.Fatal(err)
		}
		if c.Admin.Address != "" {
			t.Errorf("%s: admin address %q; want off", name, c.Admin.Address)
		}
	}
	c, _ := config.Parse([]byte("admin: {address: \"\"}\n"), "x.yaml", noEnv, components.Registry())
	if c.Admin.Address != "" || !c.Admin.Explicit() {
		t.Errorf("empty address in YAML: %q", c.Admin.Address)
	}
	c.Finish()
	if err := c.Validate(); err != nil {
		t.Errorf("admin off is not valid: %v", err)
	}
}
