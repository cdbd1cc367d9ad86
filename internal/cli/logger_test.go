package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/config"
)

// JSON log lines write durations as the configuration does ("30s"), also
// inside groups, and leave every other value alone.
func TestJSONLogWritesDurationsAsText(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, config.LogConfig{Level: "info", Format: "json"}, new(slog.LevelVar))
	log.Info("shutting down", "deadline", 30*time.Second, "count", 3, slog.Group("retry", "after", 1500*time.Millisecond))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line["deadline"] != "30s" || line["count"] != 3.0 {
		t.Errorf("deadline %v, count %v: %s", line["deadline"], line["count"], buf.String())
	}
	if g, _ := line["retry"].(map[string]any); g == nil || g["after"] != "1.5s" {
		t.Errorf("retry.after: %s", buf.String())
	}

	buf.Reset()
	newLogger(&buf, config.LogConfig{Level: "info", Format: "text"}, new(slog.LevelVar)).Info("x", "deadline", 30*time.Second)
	if !strings.Contains(buf.String(), "deadline=30s") {
		t.Errorf("text: %s", buf.String())
	}
}
