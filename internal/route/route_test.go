package route_test

import (
	"strings"
	"testing"

	"github.com/logflux/agent/internal/route"
)

func TestMatch(t *testing.T) {
	rec := func(typ, level int, source, meta string) []byte {
		return []byte(`{"id":"x","receivedAt":"2026-01-01T00:00:00Z","version":"1.0","timestamp":"2026-01-01T00:00:00Z","entryType":` +
			string(rune('0'+typ)) + `,"logLevel":` + string(rune('0'+level)) + `,"source":"` + source + `","payloadType":"generic","payload":"p"` + meta + `}`)
	}
	m := route.Match{Sources: []string{"web-*", "api"}, EntryTypes: []int{1, 5}, MinLevel: 2, MaxLevel: 4, Metadata: map[string]string{"env": "prod"}}
	ok := m.Compile()
	prod := `,"metadata":{"env":"prod","x":"y"}`
	for _, c := range []struct {
		rec  []byte
		want bool
	}{
		{rec(1, 3, "web-1", prod), true},
		{rec(5, 2, "api", prod), true},
		{rec(2, 3, "web-1", prod), false},                        // entry type
		{rec(1, 1, "web-1", prod), false},                        // above min_level's severity bound
		{rec(1, 5, "web-1", prod), false},                        // below max_level
		{rec(1, 3, "db", prod), false},                           // source
		{rec(1, 3, "web-1", `,"metadata":{"env":"dev"}`), false}, // metadata value
		{rec(1, 3, "web-1", ""), false},                          // metadata missing
		{[]byte("not a record"), true},                           // the output decides
	} {
		if got := ok(c.rec); got != c.want {
			t.Errorf("match(%s) = %v, want %v", c.rec, got, c.want)
		}
	}
	if (route.Match{}).Compile() != nil {
		t.Error("an empty match must compile to nil (no parsing)")
	}
}

func TestValidate(t *testing.T) {
	m := route.Match{Sources: []string{"ok-*", "bad["}, EntryTypes: []int{0, 8}, MinLevel: 6, MaxLevel: 9}
	err := m.Validate()
	for _, want := range []string{`sources[1]: "bad[" is not a valid glob`, "entry_types[0]: 0 is not an entry type", "entry_types[1]: 8", "max_level: 9 is not a level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want %q", err, want)
		}
	}
	if err := (&route.Match{MinLevel: 5, MaxLevel: 3}).Validate(); err == nil || !strings.Contains(err.Error(), "no entry could match") {
		t.Errorf("min above max: %v", err)
	}
}
