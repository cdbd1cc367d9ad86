package main_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestRoutingEndToEnd: two file outputs, one taking only audit entries and
// one only EMERGENCY to ERROR, fed over the real socket. Each gets exactly
// its entries, and every entry names the input it came from.
func TestRoutingEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "routing.yaml")
	audit, severe := filepath.Join(dir, "audit.ndjson"), filepath.Join(dir, "severe.ndjson")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`admin:
  address: off
outputs:
  - type: file
    name: audit
    path: %s
    match: {entry_types: [5]}
  - type: file
    name: severe
    path: %s
    match:
      max_level: error
`, audit, severe)), 0o644)
	p := startAgent(t, dir, "--config", cfg)
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	// Audit entries at level 6 (info), logs at every level.
	var wantAudit, wantSevere []string
	for i := range 50 {
		fmt.Fprintf(w, `{"payload":"audit-%d","entryType":5,"source":"iam","logLevel":6}`+"\n", i)
		wantAudit = append(wantAudit, fmt.Sprintf("audit-%d", i))
		level := i%8 + 1
		fmt.Fprintf(w, `{"payload":"log-%d","entryType":1,"source":"web","logLevel":%d}`+"\n", i, level)
		if level <= 4 {
			wantSevere = append(wantSevere, fmt.Sprintf("log-%d", i))
		}
	}
	// A long run neither output takes.
	for i := range 2000 {
		fmt.Fprintf(w, `{"payload":"debug-%d","entryType":1,"source":"web","logLevel":8}`+"\n", i)
	}
	fmt.Fprintln(w, `{"action":"flush"}`)
	w.Flush()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"accepted":2100`) {
		t.Fatalf("flush answer %q, %v", line, err)
	}
	p.stop(t)

	check := func(path string, want []string, input string) {
		t.Helper()
		var got []string
		for _, e := range readEntries(t, path) {
			got = append(got, e["payload"].(string))
			if e["input"] != input {
				t.Errorf("%s: entry %v does not name its input %q", path, e, input)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s has %d entries %q;\nwant %d %q", filepath.Base(path), len(got), got, len(want), want)
		}
	}
	check(audit, wantAudit, "agent_api")
	check(severe, wantSevere, "agent_api")
}
