package tap

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Filter chooses which records a tap shows. The zero Filter shows all.
type Filter struct {
	Sources  []string // globs (path.Match) on the source; any may match
	MinLevel int      // 1 (emergency) .. 8 (debug); 0: no bound
	MaxLevel int
	Types    []int  // entry types; empty: all
	Input    string // the input the record came from; "": any
	// Match, when set, must also accept the record (an output's routing).
	Match  func(record []byte) bool
	Limit  int     // stop after this many records; 0: never
	Sample float64 // show this fraction of the matching records, at random; 0 or 1: all
}

// ParseQuery reads a filter from a /tap query: source (repeatable glob),
// min_level, max_level, type (repeatable or comma-separated), input, limit,
// sample. It reports every problem at once. (output is resolved by the
// caller, which knows the outputs.)
func ParseQuery(q url.Values) (Filter, error) {
	var f Filter
	var errs []error
	known := map[string]bool{"source": true, "min_level": true, "max_level": true, "type": true, "input": true, "output": true, "limit": true, "sample": true}
	for k := range q {
		if !known[k] {
			errs = append(errs, fmt.Errorf("unknown parameter %q (use source, min_level, max_level, type, input, output, limit, sample)", k))
		}
	}
	for _, g := range q["source"] {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("source %q: %v", g, err))
			continue
		}
		f.Sources = append(f.Sources, g)
	}
	intParam := func(name string, lo, hi int) int {
		s := q.Get(name)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s %q: want an integer from %d to %d", name, s, lo, hi))
			return 0
		}
		return n
	}
	f.MinLevel = intParam("min_level", 1, 8)
	f.MaxLevel = intParam("max_level", 1, 8)
	if f.MinLevel > 0 && f.MaxLevel > 0 && f.MinLevel > f.MaxLevel {
		errs = append(errs, fmt.Errorf("min_level %d is above max_level %d (1 is emergency, 8 debug)", f.MinLevel, f.MaxLevel))
	}
	for _, v := range q["type"] {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 5 {
				errs = append(errs, fmt.Errorf("type %q: want an entry type from 1 to 5", s))
				continue
			}
			f.Types = append(f.Types, n)
		}
	}
	f.Input = q.Get("input")
	f.Limit = intParam("limit", 0, 1<<31-1)
	if s := q.Get("sample"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || !(r > 0 && r <= 1) {
			errs = append(errs, fmt.Errorf("sample %q: want a fraction above 0 and at most 1", s))
		} else {
			f.Sample = r
		}
	}
	return f, errors.Join(errs...)
}

// fields are the parts of a normalised record a filter looks at.
type fields struct {
	EntryType int    `json:"entryType"`
	LogLevel  int    `json:"logLevel"`
	Source    string `json:"source"`
}

// Accepts reports whether f shows record, which came from input. Sampling
// and the limit are the caller's (see Selector).
func (f *Filter) Accepts(input string, record []byte) bool {
	if f.Input != "" && f.Input != input {
		return false
	}
	if len(f.Sources) > 0 || f.MinLevel > 0 || f.MaxLevel > 0 || len(f.Types) > 0 {
		var r fields
		if json.Unmarshal(record, &r) != nil {
			return false
		}
		if f.MinLevel > 0 && r.LogLevel < f.MinLevel || f.MaxLevel > 0 && r.LogLevel > f.MaxLevel {
			return false
		}
		if len(f.Types) > 0 && !slices.Contains(f.Types, r.EntryType) {
			return false
		}
		if len(f.Sources) > 0 && !slices.ContainsFunc(f.Sources, func(g string) bool { ok, _ := path.Match(g, r.Source); return ok }) {
			return false
		}
	}
	return f.Match == nil || f.Match(record)
}

// Selector applies a filter with its sampling and limit to a stream.
type Selector struct {
	F     Filter
	shown int
}

// Take reports whether the record is to be shown.
func (s *Selector) Take(input string, record []byte) bool {
	if !s.F.Accepts(input, record) {
		return false
	}
	if s.F.Sample > 0 && s.F.Sample < 1 && rand.Float64() >= s.F.Sample {
		return false
	}
	s.shown++
	return true
}

// Shown is how many records Take has chosen.
func (s *Selector) Shown() int { return s.shown }

// Done reports whether the limit has been reached.
func (s *Selector) Done() bool { return s.F.Limit > 0 && s.shown >= s.F.Limit }
