package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/route"
)

// Registry lists the input and output types a configuration may use
// (internal/components has the agent's list).
type Registry struct {
	Inputs  []input.Factory
	Outputs []output.Factory
}

// Output returns the factory of an output type.
func (r Registry) Output(typ string) output.Factory {
	for _, f := range r.Outputs {
		if f.Type() == typ {
			return f
		}
	}
	return nil
}

// Input returns the factory of an input type.
func (r Registry) Input(typ string) input.Factory {
	for _, f := range r.Inputs {
		if f.Type() == typ {
			return f
		}
	}
	return nil
}

// OutputConfig is one entry of outputs: the keys every output has, and its
// type's own settings.
type OutputConfig struct {
	Type string
	Name string
	// Match selects the entries the output receives (zero: all).
	Match route.Match
	// Settings is the type's configuration (its factory's NewConfig),
	// decoded strictly from the entry's other keys.
	Settings component.Config
}

// InputConfig is one entry of inputs.
type InputConfig struct {
	Type     string
	Name     string
	Settings component.Config
}

var (
	outputsType = reflect.TypeFor[[]OutputConfig]()
	inputsType  = reflect.TypeFor[[]InputConfig]()
)

// decodeComponents decodes the inputs and outputs lists: for each entry,
// the common keys, then the rest strictly into its type's configuration.
func (r Registry) decodeComponents(d *decoder, n *yaml.Node, key string, v reflect.Value) bool {
	if v.Type() != outputsType && v.Type() != inputsType {
		return false
	}
	isOutput := v.Type() == outputsType
	if n.Kind != yaml.SequenceNode {
		d.add(n, key, "must be a list of %s, each with a type", key)
		return true
	}
	v.Set(reflect.MakeSlice(v.Type(), 0, len(n.Content)))
	for i, item := range n.Content {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		d.lines[ikey] = item.Line
		if item.Kind != yaml.MappingNode {
			d.add(item, ikey, "must be a mapping with a type (- type: ...), not %s", describe(item))
			continue
		}
		var typ, name string
		var match route.Match
		var typeNode *yaml.Node
		rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: item.Line, Column: item.Column}
		for j := 0; j+1 < len(item.Content); j += 2 {
			kn, vn := item.Content[j], item.Content[j+1]
			switch kn.Value {
			case "type", "name":
				d.lines[ikey+"."+kn.Value] = kn.Line
				if vn.Kind != yaml.ScalarNode {
					d.add(vn, ikey+"."+kn.Value, "must be a single value, not %s", describe(vn))
					continue
				}
				if kn.Value == "type" {
					typ, typeNode = vn.Value, kn
				} else {
					name = vn.Value
				}
			case "match":
				if !isOutput {
					rest.Content = append(rest.Content, kn, vn)
					continue
				}
				d.lines[ikey+".match"] = kn.Line
				d.decode(vn, ikey+".match", reflect.ValueOf(&match).Elem())
			default:
				rest.Content = append(rest.Content, kn, vn)
			}
		}
		var settings component.Config
		var types []string
		if isOutput {
			if f := r.Output(typ); f != nil {
				settings = f.NewConfig()
			}
			for _, f := range r.Outputs {
				types = append(types, f.Type())
			}
		} else {
			if f := r.Input(typ); f != nil {
				settings = f.NewConfig()
			}
			for _, f := range r.Inputs {
				types = append(types, f.Type())
			}
		}
		kind := strings.TrimSuffix(key, "s")
		switch {
		case typeNode == nil:
			d.add(item, ikey+".type", "is required: %s", strings.Join(types, ", "))
		case settings == nil:
			d.add(typeNode, ikey+".type", "unknown %s type %q: use %s", kind, typ, strings.Join(types, ", "))
		default:
			d.mapping(rest, ikey, reflect.ValueOf(settings).Elem())
		}
		if isOutput {
			v.Set(reflect.Append(v, reflect.ValueOf(OutputConfig{Type: typ, Name: name, Match: match, Settings: settings})))
		} else {
			v.Set(reflect.Append(v, reflect.ValueOf(InputConfig{Type: typ, Name: name, Settings: settings})))
		}
	}
	return true
}
