package inventory

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
)

// builder adds to an inventory while one source is read, as ansible-core's
// InventoryData does for its plugins.
type builder struct {
	inv    *Inventory
	source string // the file being read; hosts first seen here get inventory_file
}

func (inv *Inventory) addGroup(name string) *group {
	inv.groupsChanged()
	g, ok := inv.groups[name]
	if !ok {
		g = &group{name: name, vars: map[string]any{}, priority: 1}
		inv.groups[name] = g
		inv.groupOrder = append(inv.groupOrder, name)
	}
	return g
}

// link makes child a child group of parent, refusing cycles.
func (inv *Inventory) link(parent, child string) error {
	if parent == child {
		return fmt.Errorf("group %q cannot be its own child", child)
	}
	p, c := inv.addGroup(parent), inv.addGroup(child) // addGroup drops the groups memo
	if slices.Contains(p.children, child) {
		return nil
	}
	if inv.isAncestor(child, parent) {
		return fmt.Errorf("adding group %q as child to %q creates a recursive dependency loop", child, parent)
	}
	p.children = append(p.children, child)
	c.parents = append(c.parents, parent)
	return nil
}

// isAncestor reports whether a is an ancestor of g.
func (inv *Inventory) isAncestor(a, g string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(n string) bool {
		for _, p := range inv.groups[n].parents {
			if p == a {
				return true
			}
			if !seen[p] {
				seen[p] = true
				if walk(p) {
					return true
				}
			}
		}
		return false
	}
	return walk(g)
}

// addHost adds a host (to a group when given). A port applies when the
// host is first seen, as ansible-core's Host(name, port).
func (b *builder) addHost(name, groupName string, port int) (*Host, error) {
	if name == "" {
		return nil, fmt.Errorf("empty host name")
	}
	inv := b.inv
	inv.groupsChanged()
	h, ok := inv.hosts[name]
	if !ok {
		h = &Host{Name: name, own: map[string]any{}}
		inv.hosts[name] = h
		inv.order = append(inv.order, name)
		if b.source != "" {
			abs, _ := filepath.Abs(b.source)
			h.own["inventory_file"] = abs
			h.own["inventory_dir"] = filepath.Dir(abs)
		}
		if port > 0 {
			h.own["ansible_port"] = port
		}
		if slices.Contains(localhostNames, name) {
			if inv.localhost == "" {
				inv.localhost = name
			} else {
				inv.warnings = append(inv.warnings, fmt.Sprintf("A duplicate localhost-like entry was found (%s). First found localhost was %s", name, inv.localhost))
			}
		}
	}
	if groupName != "" {
		g := inv.addGroup(groupName)
		if !slices.Contains(g.hosts, name) {
			g.hosts = append(g.hosts, name)
		}
	}
	return h, nil
}

func (b *builder) setGroupVar(groupName, k string, v any) error {
	g := b.inv.addGroup(groupName)
	if k != "ansible_group_priority" {
		g.vars[k] = v
		return nil
	}
	// As ansible-core: the priority orders groups and is not a variable.
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		return fmt.Errorf("group %q: ansible_group_priority %v is not a number", groupName, v)
	}
	g.priority = n
	return nil
}
