package file

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/route"
)

// Config is a file input's configuration.
type Config struct {
	// Include are the globs of the files to read, absolute paths in
	// filepath.Match syntax. Symbolic links are followed.
	Include []string `yaml:"include"`
	// Exclude are globs of files not to read, matched against the same path.
	Exclude []string `yaml:"exclude"`
	// StartAt is where files present at the very first start are read from:
	// "end" (default) or "beginning". Files that appear later, or while the
	// agent was stopped, are always read from the beginning, and a file with
	// a checkpoint resumes there.
	StartAt string `yaml:"start_at"`
	// Source is every entry's source; "" uses the file's base name.
	Source string `yaml:"source"`
	// Format is how lines are read: text, json, docker or cri.
	Format string `yaml:"format"`
	// Level is the logLevel of entries that do not carry one (default info).
	Level route.Level `yaml:"level"`
	// LevelField is the member of a json line that holds its level (a name
	// such as "error" or a number 1 to 8); "" reads none.
	LevelField string `yaml:"level_field"`
	// StderrLevel is the level of docker and cri lines written to stderr;
	// 0 uses Level.
	StderrLevel route.Level `yaml:"stderr_level"`
	// Multiline joins a line that does not match StartPattern to the entry
	// before it (stack traces).
	Multiline Multiline `yaml:"multiline"`
	// MaxLineBytes is the longest entry; a longer line is split into parts
	// or truncated (LongLines). At most 1 MiB, the contract's payload limit.
	MaxLineBytes component.ByteSize `yaml:"max_line_bytes"`
	// LongLines is "split" (default) or "truncate".
	LongLines string `yaml:"long_lines"`
	// IgnoreOlder skips files not modified for this long (0: none skipped).
	IgnoreOlder time.Duration `yaml:"ignore_older"`
	// PollInterval is how often the globs are matched and files checked.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxOpenFiles bounds the descriptors held open; files beyond are read
	// in turns.
	MaxOpenFiles int `yaml:"max_open_files"`
	// FingerprintBytes is how many first bytes of a file identify it.
	FingerprintBytes component.ByteSize `yaml:"fingerprint_bytes"`
	// RotateWait is how long a file that was renamed away or deleted is
	// still read for lines its writer appends late.
	RotateWait time.Duration `yaml:"rotate_wait"`
	// ReadBufferBytes is the size of one read.
	ReadBufferBytes component.ByteSize `yaml:"read_buffer_bytes"`

	// CheckpointDir is where the offsets are kept (set by Finish from the
	// data directory).
	CheckpointDir string `yaml:"-"`

	startPattern *regexp.Regexp
}

// Multiline is how the lines of one entry are recognised.
type Multiline struct {
	// StartPattern is a regular expression that matches the first line of
	// an entry; "" turns multiline off.
	StartPattern string `yaml:"start_pattern"`
	// Timeout sends a pending entry when no line followed it this long.
	Timeout time.Duration `yaml:"timeout"`
	// MaxLines sends a pending entry when it has this many lines.
	MaxLines int `yaml:"max_lines"`
}

// Formats.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatDocker = "docker"
	FormatCRI    = "cri"
)

func defaultConfig() *Config {
	return &Config{
		StartAt:          "end",
		Format:           FormatText,
		Level:            7,
		Multiline:        Multiline{Timeout: time.Second, MaxLines: 500},
		MaxLineBytes:     protocol.MaxPayloadBytes,
		LongLines:        "split",
		PollInterval:     250 * time.Millisecond,
		MaxOpenFiles:     512,
		FingerprintBytes: 1024,
		RotateWait:       5 * time.Second,
		ReadBufferBytes:  256 << 10,
	}
}

// Finish places the checkpoints under the data directory.
func (c *Config) Finish(env component.Env) {
	c.CheckpointDir = filepath.Join(env.DataDir, "inputs")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var ps component.Problems
	if len(c.Include) == 0 {
		ps.Add("include", "is required: one or more globs such as /var/log/*.log")
	}
	for i, g := range c.Include {
		if err := checkGlob(g); err != nil {
			ps.Add(fmt.Sprintf("include[%d]", i), "%v", err)
		} else if !filepath.IsAbs(g) {
			ps.Add(fmt.Sprintf("include[%d]", i), "%q must be an absolute path", g)
		}
	}
	for i, g := range c.Exclude {
		if err := checkGlob(g); err != nil {
			ps.Add(fmt.Sprintf("exclude[%d]", i), "%v", err)
		}
	}
	if c.StartAt != "end" && c.StartAt != "beginning" {
		ps.Add("start_at", "%q must be end or beginning", c.StartAt)
	}
	if len(c.Source) > protocol.MaxSourceChars {
		ps.Add("source", "must be at most %d characters", protocol.MaxSourceChars)
	}
	switch c.Format {
	case FormatText, FormatJSON, FormatDocker, FormatCRI:
	default:
		ps.Add("format", "%q must be text, json, docker or cri", c.Format)
	}
	if c.Level < 1 || c.Level > 8 {
		ps.Add("level", "must be a level from 1 to 8")
	}
	if c.StderrLevel < 0 || c.StderrLevel > 8 {
		ps.Add("stderr_level", "must be a level from 1 to 8")
	}
	if c.LevelField != "" && c.Format != FormatJSON {
		ps.Add("level_field", "is read only with format: json")
	}
	if c.Multiline.StartPattern != "" {
		re, err := regexp.Compile(c.Multiline.StartPattern)
		if err != nil {
			ps.Add("multiline.start_pattern", "is not a regular expression: %v", err)
		}
		c.startPattern = re
		if c.Multiline.Timeout <= 0 {
			ps.Add("multiline.timeout", "must be positive")
		}
		if c.Multiline.MaxLines < 1 {
			ps.Add("multiline.max_lines", "must be at least 1")
		}
	}
	if c.MaxLineBytes < 16 || c.MaxLineBytes > protocol.MaxPayloadBytes {
		ps.Add("max_line_bytes", "must be from 16 bytes to 1MiB (the contract's payload limit)")
	}
	if c.LongLines != "split" && c.LongLines != "truncate" {
		ps.Add("long_lines", "%q must be split or truncate", c.LongLines)
	}
	if c.IgnoreOlder < 0 {
		ps.Add("ignore_older", "must not be negative")
	}
	if c.PollInterval < 10*time.Millisecond {
		ps.Add("poll_interval", "must be at least 10ms")
	}
	if c.MaxOpenFiles < 1 {
		ps.Add("max_open_files", "must be at least 1")
	}
	if c.FingerprintBytes < 16 || c.FingerprintBytes > 64<<10 {
		ps.Add("fingerprint_bytes", "must be from 16 bytes to 64KiB")
	}
	if c.RotateWait < 0 {
		ps.Add("rotate_wait", "must not be negative")
	}
	if c.ReadBufferBytes < 4<<10 || c.ReadBufferBytes > 16<<20 {
		ps.Add("read_buffer_bytes", "must be from 4KiB to 16MiB")
	}
	return ps.Err()
}

// checkGlob reports a malformed pattern.
func checkGlob(g string) error {
	if _, err := filepath.Match(g, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob: %v", g, err)
	}
	return nil
}
