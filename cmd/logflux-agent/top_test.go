package main_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue reads one unlabelled (or exactly labelled) series from a scrape.
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		t.Fatalf("the scrape has no %s", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestTopOnceShowsTheAgentsCounters: while a load runs, `top --once` shows a
// nonzero rate and totals that lie between the agent's own counters read
// just before and just after it.
func TestTopOnceShowsTheAgentsCounters(t *testing.T) {
	p, admin := startTapAgent(t, "")
	run(t, p.dir, `{"payload":"bad","entryType":1,"source":"x","logLevel":12}`+"\n", "send", "--addr", "unix://"+p.sock)
	var load strings.Builder
	for i := range 150000 {
		fmt.Fprintf(&load, `{"payload":"top load %d","entryType":1,"source":"load","logLevel":6}`+"\n", i)
	}
	loadDone := make(chan string, 1)
	go func() {
		_, errOut, _ := run(t, p.dir, load.String(), "send", "--addr", "unix://"+p.sock)
		loadDone <- errOut
	}()
	// Wait until the load is flowing.
	var before string
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, before = httpGet(t, "http://"+admin+"/metrics")
		if metricValue(t, before, "logflux_agent_entries_accepted_total") > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the load did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, errOut, code := run(t, p.dir, "", "top", "--once", "--interval", "500ms", "--admin-address", admin)
	_, after := httpGet(t, "http://"+admin+"/metrics")
	if code != 0 {
		t.Fatalf("top --once: %d %s", code, errOut)
	}
	t.Logf("top --once printed:\n%s", out)
	if got := <-loadDone; !strings.Contains(got, "150000 accepted") {
		t.Errorf("the load: %s", got)
	}

	row := func(prefix string) []string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimPrefix(l, prefix))
			}
		}
		t.Fatalf("top shows no row %q", prefix)
		return nil
	}
	between := func(what string, shown string, series string) {
		v, err := strconv.ParseFloat(shown, 64)
		lo, hi := metricValue(t, before, series), metricValue(t, after, series)
		if err != nil || v < lo || v > hi {
			t.Errorf("top shows %s %s; the agent's %s was %.0f before and %.0f after", what, shown, series, lo, hi)
		}
	}
	in := row("agent_api") // entries/s avg/s bytes/s avg accepted rejected
	if in[0] == "0" || in[2] == "0B" {
		t.Errorf("top shows no intake while a load runs: %q", in)
	}
	between("accepted", in[4], "logflux_agent_entries_accepted_total")
	between("rejected", in[5], "logflux_agent_entries_rejected_total")
	outRow := row("file") // entries/s avg/s sent failed/s retried dead latency last ok
	between("sent by file", outRow[2], `logflux_agent_output_entries_sent_total{output="file"}`)
	for _, want := range []string{"running, ready", "unix 1 open", "invalid_entry 1", "QUEUE (disk) ["} {
		if !strings.Contains(out, want) {
			t.Errorf("top --once lacks %q", want)
		}
	}
}
