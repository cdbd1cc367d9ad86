// Package monitoring holds the Grafana dashboard and Prometheus alert rules for the agent; its test checks them against a running agent's /metrics.
package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// exprs lists the dashboard's PromQL queries by panel title.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
		}
	}
	if len(out) < 10 {
		t.Fatalf("the dashboard has %d queries; it is not the one documented", len(out))
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertExprs reads alerts.yaml strictly (an unknown key is an error) and
// lists its expressions by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	out := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alerts.yaml: rule %+v lacks alert, expr, severity or summary", r)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			out["alert "+r.Alert] = r.Expr
		}
	}
	for _, want := range []string{"LogFluxAgentDown", "LogFluxOutputStalled", "LogFluxQueueAbove80Percent", "LogFluxDeadLettersGrowing", "LogFluxEntriesRejected"} {
		if out["alert "+want] == "" {
			t.Errorf("alerts.yaml has no alert %s", want)
		}
	}
	return out
}

var (
	reString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	reMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "offset": true, "inf": true, "nan": true}
)

// metricNames lists the metric names a PromQL expression selects. It is a
// lexer, not PromQL's parser: strings, label matchers, ranges and grouping
// clauses are cut out, and of the identifiers left, those followed by "(" are
// functions or aggregations and the rest, keywords aside, are metrics. It
// also checks that brackets balance.
func metricNames(expr string) ([]string, error) {
	for _, pair := range []string{"()", "{}", "[]"} {
		if strings.Count(expr, pair[:1]) != strings.Count(expr, pair[1:]) {
			return nil, fmt.Errorf("unbalanced %s", pair)
		}
	}
	e := reString.ReplaceAllString(expr, `""`)
	e = reMatchers.ReplaceAllString(e, " ")
	e = reRange.ReplaceAllString(e, " ")
	e = reGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, m := range reIdent.FindAllStringSubmatchIndex(e, -1) {
		if m[2] >= 0 { // followed by "(": a function
			continue
		}
		id := e[m[0]:m[1]]
		if m[0] > 0 && (e[m[0]-1] >= '0' && e[m[0]-1] <= '9' || e[m[0]-1] == '.') { // 1e3, 0.8
			continue
		}
		if !keywords[strings.ToLower(id)] {
			names = append(names, id)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("selects no metric")
	}
	return names, nil
}

// scrapeAgent builds and runs the agent, makes every labelled series appear
// (an entry accepted, one refused), and returns the metric names it exports.
func scrapeAgent(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "logflux-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/logflux-agent").CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := ln.Addr().String()
	ln.Close()
	sock := filepath.Join(dir, "a.sock")
	cmd := exec.Command(bin, "run", "--unix-path", sock, "--data-dir", filepath.Join(dir, "data"), "--admin-address", admin, "--log-level", "error")
	cmd.Env = append(os.Environ(), "LOGFLUX_AGENT_CONFIG=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var c net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not start: %v\n%s", err, stderr.String())
		}
	}
	fmt.Fprint(c, `{"payload":"ok","entryType":1,"source":"t","logLevel":6}`+"\n"+`{"payload":"bad","entryType":1,"source":"t","logLevel":12}`+"\n"+`{"action":"flush"}`+"\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	answers, _ := io.ReadAll(io.LimitReader(c, 4096))
	c.Close()
	if !strings.Contains(string(answers), "invalid_entry") {
		t.Fatalf("the agent answered %q", answers)
	}
	names := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(body), "\n") {
			if l != "" && l[0] != '#' {
				names[strings.FieldsFunc(l, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
			}
		}
		// The output's summary appears once it delivered.
		if names["logflux_agent_output_send_duration_seconds_count"] || time.Now().After(deadline) {
			return names
		}
	}
}

// TestDashboardAndAlertsUseExportedMetrics: every metric the dashboard and
// the alert rules query is one a running agent exports (up is Prometheus's).
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	exprs := dashboardExprs(t)
	for k, v := range alertExprs(t) {
		exprs[k] = v
	}
	exported := scrapeAgent(t)
	exported["up"] = true // written by Prometheus for every scrape
	used := map[string]bool{}
	for where, e := range exprs {
		names, err := metricNames(e)
		if err != nil {
			t.Errorf("%s: %v: %s", where, err, e)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("%s queries %s, which the agent does not export", where, n)
			}
		}
	}
	var list []string
	for n := range used {
		list = append(list, n)
	}
	sort.Strings(list)
	t.Logf("%d queries use %d metrics, all exported: %s", len(exprs), len(list), strings.Join(list, " "))
}

// TestMetricNamesLexer: the lexer finds the metrics, and only them.
func TestMetricNamesLexer(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (code) (rate(a_total{job=~"$job", code!="x"}[$__rate_interval]))`: "a_total",
		`(time() - b_ts > 300) and on (job, instance) (c_age > 300)`:              "b_ts c_age",
		`x_bytes / x_max > 0.8`: "x_bytes x_max",
		`sum by (job) (rate(r[10m])) / (sum by (job) (rate(a[10m])) + sum(rate(r[10m]))) > 5e-2`: "r a r",
		`up{job="logflux-agent"} == 0`: "up",
	} {
		got, err := metricNames(expr)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("metricNames(%s) = %q, %v; want %q", expr, got, err, want)
		}
	}
	if _, err := metricNames(`sum(rate(a[5m])`); err == nil {
		t.Error("unbalanced parentheses were not reported")
	}
}
