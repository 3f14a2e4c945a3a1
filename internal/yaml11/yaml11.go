// Package yaml11 reads YAML as Ansible does. ansible-core parses with PyYAML,
// which implements YAML 1.1; gopkg.in/yaml.v3 implements YAML 1.2. Content
// written for Ansible relies on the 1.1 reading of a few plain scalars, so
// every loader of Ansible content (playbooks, roles, inventories, vars files,
// extra vars, from_yaml) passes its node tree through Fix before decoding.
package yaml11

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fix re-tags the plain (unquoted) scalars below n that YAML 1.1 reads
// differently from YAML 1.2:
//   - yes/no/on/off in PyYAML's three spellings are booleans
//     (`set_fact: {x: yes}` then "{{ x }}" is "True" in Ansible);
//   - a float needs a dot, and a sign on its exponent: "1e3" and "1.5e3"
//     are strings;
//   - base-60 integers: "1:30" is 90 (why Ansible users quote MAC addresses).
//
// Mapping keys are left alone: a variable or argument named "on" stays a
// name, where PyYAML would make it a boolean key no lookup could reach.
func Fix(n *yaml.Node) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			Fix(c)
		}
		return
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			Fix(n.Content[i])
		}
		return
	case yaml.ScalarNode:
	default:
		return
	}
	if n.Style != 0 {
		return
	}
	switch {
	case n.Tag == "!!str" && bools[n.Value] != "":
		n.Tag, n.Value = "!!bool", bools[n.Value]
	case n.Tag == "!!float" && !float11.MatchString(n.Value):
		n.Tag = "!!str"
	case n.Tag == "!!str" && sexagesimal.MatchString(n.Value):
		if v, ok := base60(n.Value); ok {
			n.Tag, n.Value = "!!int", strconv.FormatInt(v, 10)
		}
	}
}

// Unmarshal decodes data into out as PyYAML would.
func Unmarshal(data []byte, out any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 {
		return nil
	}
	Fix(&root)
	return root.Decode(out)
}

// bools holds PyYAML's boolean words (its resolver's regexp) that YAML 1.2
// reads as strings; true/false are booleans in both.
var bools = map[string]string{
	"yes": "true", "Yes": "true", "YES": "true", "on": "true", "On": "true", "ON": "true",
	"no": "false", "No": "false", "NO": "false", "off": "false", "Off": "false", "OFF": "false",
}

// float11 is PyYAML's float resolver, less its base-60 branch, which no
// YAML 1.2 float matches.
var float11 = regexp.MustCompile(`^([-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$`)

// sexagesimal is PyYAML's int resolver's base-60 branch.
var sexagesimal = regexp.MustCompile(`^[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+$`)

func base60(s string) (int64, bool) {
	sign := int64(1)
	switch s[0] {
	case '-':
		sign, s = -1, s[1:]
	case '+':
		s = s[1:]
	}
	var v int64
	for _, part := range strings.Split(strings.ReplaceAll(s, "_", ""), ":") {
		d, err := strconv.ParseInt(part, 10, 64)
		if err != nil || v > (1<<62)/60 {
			return 0, false
		}
		v = v*60 + d
	}
	return sign * v, true
}
