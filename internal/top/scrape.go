// Package top turns a running agent's /metrics and /status into the text frames of `logflux-agent top`.
package top

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one scrape of an agent: its metrics by name and labels, and its
// /status document.
type Sample struct {
	At      time.Time
	Metrics map[string][]Point
	Status  Status
}

// Point is one series of a metric family.
type Point struct {
	Labels map[string]string
	Value  float64 // a summary's is its sum; Count is its count
	Count  float64
}

// Status is the part of /status that top shows besides the metrics.
type Status struct {
	State      string `json:"state"`
	Ready      bool   `json:"ready"`
	Problems   []string
	Uptime     string                `json:"uptime"`
	Queue      struct{ Type string } `json:"queue"`
	DeadLetter struct {
		Entries, Bytes, Dropped int64
	} `json:"dead_letter"`
}

// Scrape reads /metrics and /status from the admin server at addr.
func Scrape(ctx context.Context, c *http.Client, addr string) (*Sample, error) {
	s := &Sample{At: time.Now()}
	body, err := get(ctx, c, "http://"+addr+"/metrics")
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	s.Metrics = map[string][]Point{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s.Metrics[name] = append(s.Metrics[name], point(m))
		}
	}
	foldInputs(s.Metrics)
	body, err = get(ctx, c, "http://"+addr+"/status")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &s.Status); err != nil {
		return nil, fmt.Errorf("reading /status: %w", err)
	}
	return s, nil
}

func point(m *dto.Metric) Point {
	p := Point{Labels: map[string]string{}}
	for _, l := range m.GetLabel() {
		p.Labels[l.GetName()] = l.GetValue()
	}
	switch {
	case m.Counter != nil:
		p.Value = m.Counter.GetValue()
	case m.Gauge != nil:
		p.Value = m.Gauge.GetValue()
	case m.Summary != nil:
		p.Value, p.Count = m.Summary.GetSampleSum(), float64(m.Summary.GetSampleCount())
	case m.Histogram != nil:
		p.Value, p.Count = m.Histogram.GetSampleSum(), float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		p.Value = m.Untyped.GetValue()
	}
	return p
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no agent answers: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// Value is the sum of metric's series whose labels include match (all
// series when match is empty).
func (s *Sample) Value(metric string, match map[string]string) float64 {
	v, _ := s.value(metric, match)
	return v
}

func (s *Sample) value(metric string, match map[string]string) (sum, count float64) {
	if s == nil {
		return 0, 0
	}
	for _, p := range s.Metrics[metric] {
		ok := true
		for k, v := range match {
			if p.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			sum += p.Value
			count += p.Count
		}
	}
	return sum, count
}

// LabelValues lists, sorted, the values label takes in any of metrics.
func (s *Sample) LabelValues(label string, metrics ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range metrics {
		for _, p := range s.Metrics[m] {
			if v, ok := p.Labels[label]; ok && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	sort.Strings(out)
	return out
}

// foldInputs reads what each input publishes under its type's own names
// (logflux_agent_input_<type>_entries_accepted_total{input="…"}, and its
// received or read bytes and rejected entries, by reason or not) into the
// three families the view shows per input, so that every input type,
// including ones added later, gets a row without code here.
func foldInputs(m map[string][]Point) {
	const pre = "logflux_agent_input_"
	var names []string
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, pre)
		if !ok || name == mInputAccepted || name == mInputBytes || name == mInputRejected {
			continue
		}
		var to string
		switch {
		case strings.HasSuffix(rest, "_entries_accepted_total"):
			to = mInputAccepted
		case strings.HasSuffix(rest, "_received_bytes_total"), strings.HasSuffix(rest, "_read_bytes_total"):
			to = mInputBytes
		case strings.HasSuffix(rest, "_entries_rejected_total"), strings.Contains(rest, "_entries_rejected_") && strings.HasSuffix(rest, "_total"):
			to = mInputRejected
		default:
			continue
		}
		for _, p := range m[name] {
			if p.Labels["input"] != "" {
				m[to] = append(m[to], p)
			}
		}
	}
}
