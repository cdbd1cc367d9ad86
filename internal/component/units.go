package component

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a size in bytes, written in YAML as a number or with a unit:
// "512", "64KiB", "16MiB", "1GiB" (also KB, MB, GB as powers of 1000).
type ByteSize int64

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// Set parses s into b.
func (b *ByteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || !(n >= 0) { // !(n >= 0) also catches NaN
		return fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	if v := n * float64(mult); v >= 1<<62 {
		return fmt.Errorf("%q is too large a size", s)
	} else {
		*b = ByteSize(v)
	}
	return nil
}

// UnmarshalYAML reads a number of bytes or a size with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a size such as 64MiB")
	}
	return b.Set(n.Value)
}

// String formats the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(b) >= u.m && int64(b)%u.m == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.m, u.s)
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// FileMode is permission bits written in octal, such as "0660" or 0660.
type FileMode os.FileMode

// UnmarshalYAML reads octal permission bits.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "0o"), 8, 32)
	if err != nil {
		return fmt.Errorf("%q is not octal permission bits such as 0660", n.Value)
	}
	*m = FileMode(v)
	return nil
}

// String formats the mode in octal.
func (m FileMode) String() string { return fmt.Sprintf("%#o", uint32(m)) }
