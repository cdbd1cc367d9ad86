package journald

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/logflux/agent/internal/component"
)

// Config is a journald input's configuration.
type Config struct {
	// JournalctlPath is the journalctl program (default "journalctl",
	// looked up in PATH).
	JournalctlPath string `yaml:"journalctl_path"`
	// Units limits the entries to these systemd units (journalctl --unit;
	// any of them).
	Units []string `yaml:"units"`
	// Matches are journalctl matches such as "_TRANSPORT=kernel" or
	// "PRIORITY=3"; "+" between them means OR (journalctl(1)).
	Matches []string `yaml:"matches"`
	// Since is where the first start reads from when there is no saved
	// cursor (journalctl --since: "2025-01-01 00:00:00", "-1h", "today");
	// empty: only entries written from then on. Later starts resume after
	// the saved cursor.
	Since string `yaml:"since"`
	// Directory reads the journal files of a directory instead of the
	// system journal (journalctl --directory).
	Directory string `yaml:"directory"`
	// Source is every entry's source; empty: SYSLOG_IDENTIFIER, else
	// _COMM, else _SYSTEMD_UNIT, else "journald".
	Source string `yaml:"source"`
	// Fields are the journal fields copied into metadata, besides the
	// message, priority and time.
	Fields []string `yaml:"fields"`
	// CursorFile is where the cursor of the last durable entry is kept
	// (default <data_dir>/journald/<input name>.cursor).
	CursorFile string `yaml:"cursor_file"`
	// RestartDelay is the first wait before journalctl is started again
	// after it exits; it doubles up to a minute while it keeps failing.
	RestartDelay time.Duration `yaml:"restart_delay"`

	dataDir string
}

// DefaultFields are the journal fields copied into metadata unless fields is set.
var DefaultFields = []string{"_SYSTEMD_UNIT", "_PID", "_COMM", "SYSLOG_IDENTIFIER", "_HOSTNAME"}

func defaults() *Config {
	return &Config{JournalctlPath: "journalctl", Fields: append([]string(nil), DefaultFields...), RestartDelay: time.Second}
}

// Finish remembers the data directory for the cursor file.
func (c *Config) Finish(env component.Env) { c.dataDir = env.DataDir }

// cursorPath is the cursor file of the input called name.
func (c *Config) cursorPath(dataDir, name string) string {
	if c.CursorFile != "" {
		return c.CursorFile
	}
	if dataDir == "" {
		dataDir = c.dataDir
	}
	return filepath.Join(dataDir, "journald", name+".cursor")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	if strings.TrimSpace(c.JournalctlPath) == "" {
		ps.Add("journalctl_path", "must not be empty")
	}
	for i, u := range c.Units {
		if strings.TrimSpace(u) == "" || strings.HasPrefix(u, "-") {
			ps.Add("units", "unit %d (%q) is not a unit name", i+1, u)
		}
	}
	for i, m := range c.Matches {
		if m != "+" && (!strings.Contains(m, "=") || strings.HasPrefix(m, "-") || strings.HasPrefix(m, "=")) {
			ps.Add("matches", "match %d (%q) must be FIELD=value or \"+\"", i+1, m)
		}
	}
	if strings.HasPrefix(c.Since, "--") {
		ps.Add("since", "%q is not a time", c.Since)
	}
	for i, f := range c.Fields {
		if f == "" || strings.ContainsAny(f, " =") {
			ps.Add("fields", "field %d (%q) is not a journal field name", i+1, f)
		}
	}
	if len(c.Source) > 256 {
		ps.Add("source", "must be at most 256 characters")
	}
	if c.RestartDelay <= 0 || c.RestartDelay > time.Minute {
		ps.Add("restart_delay", "must be more than 0 and at most 1m")
	}
	return ps.Err()
}

// args are journalctl's arguments, resuming after cursor when it is set.
func (c *Config) args(cursor string) []string {
	a := []string{"--output=json", "--follow", "--all", "--no-pager"}
	if c.Directory != "" {
		a = append(a, "--directory="+c.Directory)
	}
	for _, u := range c.Units {
		a = append(a, "--unit="+u)
	}
	switch {
	case cursor != "":
		a = append(a, "--after-cursor="+cursor)
	case c.Since != "":
		a = append(a, "--since="+c.Since)
	default:
		a = append(a, "--lines=0") // from now on
	}
	return append(a, c.Matches...)
}
