package inventory

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
)

// The inventory changes during a run as ansible-core's InventoryManager
// does for add_host (add_dynamic_host) and group_by (add_dynamic_group):
// later plays' patterns, `groups`, `group_names` and `hostvars` see the
// new hosts and groups, and group_vars/ and host_vars/ files of names first
// seen now apply, as Ansible's vars plugins read them for any group or host
// they are asked about. Hosts run in parallel, so these hold inv.mu, and a
// host whose groups or variables change gets a new *Host: a value handed
// out earlier stays as it was for whoever reads it.

// ParseAddress splits "name:port" as add_host reads its name (ansible-core's
// parse_address without ranges); port is 0 when none is given, and anything
// that is not an address comes back whole.
func ParseAddress(s string) (host string, port int) { return splitHostPort(s) }

// AddHost adds the host, or updates one already known: vars are merged
// into its inventory host variables (top-level keys replaced) and it joins
// groups, which are made when missing. changed is ansible-core's: the
// host, a variable or a membership is new.
func (inv *Inventory) AddHost(name string, groups []string, vars map[string]any) (changed bool, err error) {
	if name == "" {
		return false, errors.New("add_host: empty host name")
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.groupsChanged()
	if _, ok := inv.hosts[name]; !ok {
		// As ansible-core: a new host is added to all itself, then
		// reconciled into ungrouped when it has no other group.
		h, err := (&builder{inv: inv}).addHost(name, "all", 0)
		if err != nil {
			return false, err
		}
		// ansible-core sets these to None for a host no source named.
		h.own["inventory_file"], h.own["inventory_dir"] = nil, nil
		if err := inv.loadRunVars("host_vars", name); err != nil {
			return false, err
		}
		changed = true
	}
	h := inv.hosts[name]
	own := maps.Clone(h.own)
	for k, v := range vars {
		if old, ok := own[k]; !ok || !reflect.DeepEqual(old, v) {
			own[k] = v
			changed = true
		}
	}
	for _, gn := range groups {
		if _, ok := inv.groups[gn]; !ok {
			if err := inv.newGroup(gn, lastRank); err != nil {
				return false, err
			}
			changed = true
		}
		if g := inv.groups[gn]; !slices.Contains(g.hosts, name) {
			g.hosts = inv.insertRanked(g.hosts, "h:"+gn, name, lastRank)
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	nh := *h
	nh.own = own
	inv.hosts[name] = &nh
	if err := inv.reconcileRun(name, lastRank); err != nil {
		return false, err
	}
	inv.refresh(name)
	return true, nil
}

// GroupBy puts host in group, made when missing, and makes group a child
// of each of parents (also made when missing). changed is ansible-core's:
// a parent group or link is new, or the host was not in group before
// (directly or through a child group).
func (inv *Inventory) GroupBy(host, group string, parents []string) (changed bool, err error) {
	if group == "" {
		return false, errors.New("group_by: empty group name")
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.groupsChanged()
	if _, ok := inv.host(host); !ok {
		return false, fmt.Errorf("group_by: %s cannot be matched in inventory", host)
	}
	rank := inv.hostRank(host)
	if _, ok := inv.groups[group]; !ok {
		if err := inv.newGroup(group, rank); err != nil {
			return false, err
		}
	}
	linked := false
	for _, p := range parents {
		if _, ok := inv.groups[p]; !ok {
			if err := inv.newGroup(p, rank); err != nil {
				return false, err
			}
			changed = true
		}
		if slices.Contains(inv.groups[p].children, group) {
			continue
		}
		if err := inv.linkRanked(p, group, rank); err != nil {
			return false, fmt.Errorf("group_by: %w", err)
		}
		changed, linked = true, true
	}
	if !slices.Contains(inv.groupHosts(group), host) {
		g := inv.groups[group]
		g.hosts = inv.insertRanked(g.hosts, "h:"+group, host, rank)
		changed = true
	}
	if !changed {
		return false, nil
	}
	if err := inv.reconcileRun(host, rank); err != nil {
		return false, err
	}
	affected := []string{host}
	if linked {
		// The group's hosts are now in its new parents too.
		affected = appendAll(affected, inv.groupHosts(group))
	}
	for _, n := range affected {
		inv.refresh(n)
	}
	return true, nil
}

func appendAll(list, more []string) []string {
	for _, s := range more {
		list = appendNew(list, s)
	}
	return list
}

// Hosts run a task in parallel, so group_by's changes arrive in any
// order. ansible-core's linear strategy takes the results in the play's
// host order, so the order of group members, of a group's children and of
// the groups themselves (which patterns such as "kind_*" follow) is that
// order. A change made during the run is therefore placed by the rank of
// the host that made it, its place in the inventory: after what the
// inventory loaded and after changes by hosts ranked before it. add_host
// runs once per batch and ranks last.
const lastRank = math.MaxInt

// hostRank is the host's place in the inventory, for insertRanked.
func (inv *Inventory) hostRank(host string) int {
	if i := slices.Index(inv.order, host); i >= 0 {
		return i
	}
	return lastRank
}

// insertRanked inserts item into list, whose run-time additions are
// recorded under kind+"\x00"+item, before the first one ranked after rank.
func (inv *Inventory) insertRanked(list []string, kind, item string, rank int) []string {
	if inv.runRank == nil {
		inv.runRank = map[string]int{}
	}
	inv.runRank[kind+"\x00"+item] = rank
	i := slices.IndexFunc(list, func(s string) bool {
		r, ok := inv.runRank[kind+"\x00"+s]
		return ok && r > rank
	})
	if i < 0 {
		return append(list, item)
	}
	return slices.Insert(list, i, item)
}

// newGroup adds a group first seen during the run and reads its
// group_vars/ files.
func (inv *Inventory) newGroup(name string, rank int) error {
	inv.addGroup(name)
	inv.groupOrder = inv.insertRanked(slices.DeleteFunc(inv.groupOrder, func(s string) bool { return s == name }), "g:", name, rank)
	return inv.loadRunVars("group_vars", name)
}

// linkRanked is link for a change during the run: child takes its place
// among parent's children by rank.
func (inv *Inventory) linkRanked(parent, child string, rank int) error {
	if err := inv.link(parent, child); err != nil {
		return err
	}
	p := inv.groups[parent]
	p.children = inv.insertRanked(slices.DeleteFunc(p.children, func(s string) bool { return s == child }), "c:"+parent, child, rank)
	return nil
}

// reconcileRun is reconcile for a change during the run: groups without a
// parent go under all, and host joins or leaves ungrouped. Only host's
// memberships changed, so the other hosts are left alone.
func (inv *Inventory) reconcileRun(host string, rank int) error {
	for _, name := range inv.groupOrder {
		if g := inv.groups[name]; name != "all" && len(g.parents) == 0 {
			if err := inv.linkRanked("all", name, rank); err != nil {
				return err
			}
		}
	}
	if _, ok := inv.hosts[host]; ok {
		others := false
		for _, gn := range inv.groupOrder {
			if gn != "all" && gn != "ungrouped" && slices.Contains(inv.groups[gn].hosts, host) {
				others = true
				break
			}
		}
		ungrouped := inv.groups["ungrouped"]
		in := slices.Contains(ungrouped.hosts, host)
		switch {
		case others && in:
			ungrouped.hosts = slices.DeleteFunc(ungrouped.hosts, func(s string) bool { return s == host })
		case !others && !in:
			ungrouped.hosts = inv.insertRanked(ungrouped.hosts, "h:ungrouped", host, rank)
		}
	}
	inv.setDepths()
	return nil
}

// refresh gives a host a new value with its groups and variables as they
// are now.
func (inv *Inventory) refresh(name string) {
	into := inv.hosts
	h, ok := into[name]
	if !ok {
		if h = inv.implicitLocalhost(name); h == nil {
			return
		}
		into = inv.implicit
	}
	nh := *h
	groups := inv.hostGroups(name)
	nh.Groups = groups
	if !h.Implicit {
		nh.Groups = append([]string{"all"}, groups...)
	}
	nh.Vars = inv.mergeVars(&nh, groups)
	into[name] = &nh
}

// loadRunVars reads sub/name (group_vars/ or host_vars/) in every
// directory whose files the inventory read at load time, for a group or
// host first seen during the run.
func (inv *Inventory) loadRunVars(sub, name string) error {
	if inv.dec == nil {
		return nil
	}
	dirs := inv.layers.inv
	if inv.layers.play != nil {
		dirs = append(slices.Clone(dirs), inv.layers.play)
	}
	for _, vd := range dirs {
		into := vd.groups
		if sub == "host_vars" {
			into = vd.hosts
		}
		base := filepath.Join(vd.dir, sub)
		if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
			continue
		}
		vars, err := inv.varsFor(*inv.dec, base, name, map[string]map[string]any{})
		if err != nil {
			return fmt.Errorf("%s/%s: %w", sub, name, err)
		}
		if len(vars) > 0 {
			into[name] = vars
		}
	}
	return nil
}
