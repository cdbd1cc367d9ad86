package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentLinksOnlyTheAgent: the load generator (with its PNG charts) and the
// ingestion simulator are commands of their own, and nothing of them is in the
// agent's binary.
func TestAgentLinksOnlyTheAgent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !contains(deps, "github.com/logflux/agent/internal/agent") {
		t.Fatalf("go list -deps printed %d packages without the agent's own; the check would prove nothing:\n%s", len(deps), out)
	}
	for _, p := range deps {
		switch {
		case p == "image" || strings.HasPrefix(p, "image/") || strings.HasPrefix(p, "golang.org/x/image"):
			t.Errorf("the agent links %s (image code belongs to logflux-bench)", p)
		case strings.HasPrefix(p, "github.com/logflux/agent/internal/bench"), strings.HasPrefix(p, "github.com/logflux/agent/internal/ingestsim"):
			t.Errorf("the agent links %s (it belongs to its own command)", p)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
