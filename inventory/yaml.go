package inventory

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/internal/yaml11"
)

// errNotYAMLInventory means the file is valid for the YAML plugin to
// decline (empty, or not a mapping), so the INI reader gets its turn.
var errNotYAMLInventory = errors.New("not a YAML inventory")

// parseYAML reads Ansible's YAML inventory format: groups with hosts,
// vars and children, nested to any depth. Host keys may carry ranges and
// ports, as in ansible-core's yaml plugin.
func (b *builder) parseYAML(path string, data []byte, d decoder) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return fmt.Errorf("%s: %w: empty", path, errNotYAMLInventory)
	}
	yaml11.Fix(&root)
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: %w", errNotYAMLInventory, errAt(path, doc, "inventory must be a mapping of groups (all: hosts/children/vars)"))
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		name := doc.Content[i].Value
		if err := b.yamlGroup(path, name, doc.Content[i+1], d); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) yamlGroup(path, name string, n *yaml.Node, d decoder) error {
	b.inv.addGroup(name)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(path, n, fmt.Sprintf("group %q must be a mapping with hosts, children or vars", name))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if isNull(val) {
			continue
		}
		var err error
		switch key.Value {
		case "hosts":
			err = b.yamlHosts(path, name, val, d)
		case "vars":
			var vars map[string]any
			if vars, err = d.varsMapping(path, val, fmt.Sprintf("vars of group %q", name)); err == nil {
				for k, v := range vars {
					if err := b.setGroupVar(name, k, v); err != nil {
						return errAt(path, val, err.Error())
					}
				}
			}
		case "children":
			err = b.yamlChildren(path, name, val, d)
		default:
			err = errAt(path, key, fmt.Sprintf("unknown key %q in group %q (expected hosts, children or vars)", key.Value, name))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) yamlHosts(path, group string, val *yaml.Node, d decoder) error {
	if val.Kind != yaml.MappingNode {
		return errAt(path, val, fmt.Sprintf("hosts of group %q must be a mapping of host names", group))
	}
	for j := 0; j+1 < len(val.Content); j += 2 {
		entry := val.Content[j]
		names, port, err := expandHosts(entry.Value)
		if err != nil {
			return errAt(path, entry, err.Error())
		}
		vars, err := d.varsMapping(path, val.Content[j+1], fmt.Sprintf("vars of host %q", entry.Value))
		if err != nil {
			return err
		}
		for _, hn := range names {
			h, err := b.addHost(hn, group, port)
			if err != nil {
				return errAt(path, entry, err.Error())
			}
			for k, v := range vars {
				h.own[k] = v
			}
		}
	}
	return nil
}

func (b *builder) yamlChildren(path, parent string, val *yaml.Node, d decoder) error {
	if val.Kind != yaml.MappingNode {
		return errAt(path, val, fmt.Sprintf("children of group %q must be a mapping of groups", parent))
	}
	for j := 0; j+1 < len(val.Content); j += 2 {
		child := val.Content[j]
		b.inv.addGroup(child.Value)
		if err := b.inv.link(parent, child.Value); err != nil {
			return errAt(path, child, err.Error())
		}
		if err := b.yamlGroup(path, child.Value, val.Content[j+1], d); err != nil {
			return err
		}
	}
	return nil
}
