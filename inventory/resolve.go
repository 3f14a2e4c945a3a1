package inventory

import (
	"maps"
	"slices"
	"sort"
)

// Variable precedence, lowest first, as ansible-core 2.14 merges them
// (VariableManager.get_vars with the default VARIABLE_PRECEDENCE
// all_inventory, groups_inventory, all_plugins_inventory, all_plugins_play,
// groups_plugins_inventory, groups_plugins_play; then host vars), which is
// the order of Ansible's documentation, "Understanding variable precedence"
// (docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html):
//
//  1. inventory file group vars: all's first, then every other group of the
//     host ordered by depth (parents before children), ansible_group_priority,
//     then name (ansible-core's sort_groups)
//  2. inventory group_vars/all       (each -i source's directory, in -i order)
//  3. playbook group_vars/all
//  4. inventory group_vars/<group>   (for each source: groups in the order of 1)
//  5. playbook group_vars/<group>
//  6. inventory file host vars
//  7. inventory host_vars/<host>
//  8. playbook host_vars/<host>
//
// Each layer replaces whole top-level keys (hash_behaviour=replace).
// Play vars, facts, set_fact, -e and the rest sit above these, in the engine.

// varLayers are the variables found in group_vars/ and host_vars/.
type varLayers struct {
	inv  []*varsDir // one per inventory source, in -i order
	play *varsDir   // beside the playbook; nil when none
}

func (inv *Inventory) resolve(d *decoder, dirs []string, playDir string) error {
	if err := inv.reconcile(); err != nil {
		return err
	}
	if d != nil {
		inv.dec = d
		if err := inv.loadVarsDirs(*d, dirs, playDir); err != nil {
			return err
		}
	}
	for _, hn := range inv.order {
		h := inv.hosts[hn]
		groups := inv.hostGroups(hn)
		h.Groups = append([]string{"all"}, groups...)
		h.Vars = inv.mergeVars(h, groups)
	}
	return nil
}

// reconcile puts parentless groups under all and hosts without a group in
// ungrouped, as ansible-core's reconcile_inventory, then computes depths.
func (inv *Inventory) reconcile() error {
	for _, name := range inv.groupOrder {
		g := inv.groups[name]
		if name != "all" && len(g.parents) == 0 {
			if err := inv.link("all", name); err != nil {
				return err
			}
		}
	}
	inv.groupsChanged()
	ungrouped := inv.groups["ungrouped"]
	for _, hn := range inv.order {
		others := false
		for _, gn := range inv.groupOrder {
			if gn != "all" && gn != "ungrouped" && slices.Contains(inv.groups[gn].hosts, hn) {
				others = true
				break
			}
		}
		in := slices.Contains(ungrouped.hosts, hn)
		switch {
		case others && in:
			ungrouped.hosts = slices.DeleteFunc(ungrouped.hosts, func(s string) bool { return s == hn })
		case !others && !in:
			ungrouped.hosts = append(ungrouped.hosts, hn)
		}
	}
	inv.setDepths()
	return nil
}

// setDepths gives each group its longest distance from all.
func (inv *Inventory) setDepths() {
	for _, g := range inv.groups {
		g.depth = 0
	}
	var walk func(name string, d int)
	walk = func(name string, d int) {
		g := inv.groups[name]
		if d < g.depth || (d == g.depth && d > 0) {
			return
		}
		g.depth = d
		for _, c := range g.children {
			walk(c, d+1)
		}
	}
	walk("all", 0)
}

// hostGroups returns the groups a host is in, directly or through
// children, all excluded, in ansible-core's sort_groups order.
func (inv *Inventory) hostGroups(host string) []string {
	set := map[string]bool{}
	var up func(string)
	up = func(gn string) {
		if set[gn] {
			return
		}
		set[gn] = true
		for _, p := range inv.groups[gn].parents {
			up(p)
		}
	}
	for _, gn := range inv.groupOrder {
		if slices.Contains(inv.groups[gn].hosts, host) {
			up(gn)
		}
	}
	delete(set, "all")
	out := make([]string, 0, len(set))
	for gn := range set {
		out = append(out, gn)
	}
	inv.sortGroups(out)
	return out
}

func (inv *Inventory) sortGroups(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, b := inv.groups[names[i]], inv.groups[names[j]]
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.name < b.name
	})
}

// mergeVars applies the layers documented at the top of this file.
func (inv *Inventory) mergeVars(h *Host, groups []string) map[string]any {
	out := map[string]any{}
	maps.Copy(out, inv.groups["all"].vars)
	for _, g := range groups {
		maps.Copy(out, inv.groups[g].vars)
	}
	dirs := inv.layers.inv
	if inv.layers.play != nil {
		dirs = append(slices.Clone(dirs), inv.layers.play)
	}
	for _, d := range dirs {
		maps.Copy(out, d.groups["all"])
	}
	for _, d := range dirs {
		for _, g := range groups {
			maps.Copy(out, d.groups[g])
		}
	}
	maps.Copy(out, h.own)
	for _, d := range dirs {
		maps.Copy(out, d.hosts[h.Name])
	}
	return out
}

// implicitLocalhost returns the localhost ansible-core makes up for a
// localhost name the inventory lacks (or the localhost-like host it has).
func (inv *Inventory) implicitLocalhost(name string) *Host {
	if !slices.Contains(localhostNames, name) {
		return nil
	}
	if inv.localhost != "" {
		return inv.hosts[inv.localhost]
	}
	if h, ok := inv.implicit[name]; ok {
		return h
	}
	h := &Host{Name: name, Implicit: true, own: map[string]any{"ansible_connection": "local"}}
	h.Vars = inv.mergeVars(h, nil)
	inv.implicit[name] = h
	return h
}
