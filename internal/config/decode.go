package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML document into a configuration, key by key, so that
// one pass finds every problem: an unknown key (with the nearest known one),
// a value of the wrong kind (in plain words), a key set twice. It fills in
// everything it can and records where each key is, for later messages.
type decoder struct {
	lines    map[string]int // dotted key path → line
	problems []problem
	getenv   func(string) string
	// components decodes a list of inputs or outputs (see components.go).
	components func(d *decoder, n *yaml.Node, key string, v reflect.Value) bool
}

// problem is one problem found in a configuration, with its place.
type problem struct {
	line int // 0: unknown
	key  string
	msg  string
}

func (d *decoder) add(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, problem{line: line, key: key, msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[time.Duration]()

// decode decodes n into v (addressable), reporting problems under key.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with nothing keeps the default
	}
	if d.components != nil && d.components(d, n, key, v) {
		return
	}
	if n.Kind == yaml.SequenceNode {
		d.itemLines(n, key)
	}
	if v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct {
		if _, ok := v.Interface().(yaml.Unmarshaler); !ok {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			d.decode(n, key, v.Elem())
			return
		}
	}
	if _, ok := v.Addr().Interface().(yaml.Unmarshaler); !ok && v.Kind() == reflect.Struct {
		d.mapping(n, key, v)
		return
	}
	if v.Type() == durationType && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if n.Value != "0" {
			d.add(n, key, "%s has no unit; write a duration such as %ss or 500ms", n.Value, n.Value)
		}
		v.SetInt(0)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.add(n, key, "%s", plainError(n, v.Type(), err))
	}
}

// mapping decodes a mapping node into the struct v field by field.
func (d *decoder) mapping(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.add(n, key, "must be a mapping of keys (key: value), not %s", describe(n))
		return
	}
	fields := structFields(v)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := kn.Value
		sub := name
		if key != "" {
			sub = key + "." + name
		}
		if first, dup := seen[name]; dup {
			d.add(kn, sub, "is set twice (first on line %d); remove one", first)
			continue
		}
		seen[name] = kn.Line
		d.lines[sub] = kn.Line
		f, ok := fields[name]
		if !ok {
			d.add(kn, sub, "%s", unknownKey(name, fields))
			continue
		}
		d.decode(vn, sub, v.FieldByIndex(f))
	}
}

// itemLines records the line of every item of a sequence decoded whole
// (key[0], key[0].name, …), so that a Validate problem about one item
// names its line.
func (d *decoder) itemLines(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			ikey := fmt.Sprintf("%s[%d]", key, i)
			d.lines[ikey] = item.Line
			d.itemLines(item, ikey)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := key + "." + n.Content[i].Value
			d.lines[sub] = n.Content[i].Line
			d.itemLines(n.Content[i+1], sub)
		}
	}
}

// structFields maps the yaml keys of a struct type (inline structs
// flattened) to the fields' indexes.
func structFields(v reflect.Value) map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			idx := append(slices.Clone(index), i)
			if opts == "inline" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = idx
		}
	}
	walk(v.Type(), nil)
	return out
}

// unknownKey says a key is unknown and which one was probably meant.
func unknownKey(name string, fields map[string][]int) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	slices.Sort(known)
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return "unknown key; did you mean " + best + "?"
	}
	if len(known) == 0 {
		return "unknown key; this section has no keys"
	}
	return "unknown key; the keys here are " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// plainError says in plain words why n does not fit a value of type t.
func plainError(n *yaml.Node, t reflect.Type, err error) string {
	if _, custom := reflect.New(t).Interface().(yaml.Unmarshaler); custom {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	if t == durationType {
		return describe(n) + " is not a duration (e.g. 10s, 500ms)"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return describe(n) + " is not true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return describe(n) + " is not a whole number"
	case reflect.Float32, reflect.Float64:
		return describe(n) + " is not a number"
	case reflect.String:
		return "must be a single value, not " + describe(n)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return "must be a list, not " + describe(n)
		}
		return "must be a list of " + kindWord(t.Elem())
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return "must be a mapping, not " + describe(n)
		}
		return "must be a mapping of " + kindWord(t.Elem())
	}
	return describe(n) + " is not a valid value here"
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text values"
	case reflect.Int, reflect.Int64:
		return "whole numbers"
	}
	return "values"
}

// envRef matches ${NAME} and ${NAME:-default}; $${ escapes a literal ${.
var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// substitute replaces environment references in every scalar value of n.
func (d *decoder) substitute(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			sub := key
			if n.Kind == yaml.SequenceNode {
				sub = fmt.Sprintf("%s[%d]", key, i)
			}
			d.substitute(c, sub)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := n.Content[i].Value
			if key != "" {
				sub = key + "." + sub
			}
			d.substitute(n.Content[i+1], sub)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$${" {
				return "${"
			}
			m := envRef.FindStringSubmatch(ref)
			if v := d.getenv(m[1]); v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			d.add(n, key, "environment variable %s is not set (write ${%s:-default} to give a default)", m[1], m[1])
			return ""
		})
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // a plain value is typed by what it became: ${PORT} can be a number
		}
	}
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }
