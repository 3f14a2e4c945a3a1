// Package inventory reads Ansible inventories as ansible-core does: YAML
// and INI files (the format found by trying each, as Ansible's plugins do),
// directories of them, several sources merged, group_vars/ and host_vars/
// beside the inventory and the playbook, vault-encrypted values, host
// patterns with subscripts, and the implicit localhost.
package inventory

import (
	"maps"
	"slices"
	"sync"
)

// Host is one inventory host with its variables merged by Ansible's
// precedence (see resolve.go).
type Host struct {
	Name   string
	Vars   map[string]any
	Groups []string // every group the host belongs to, all first; none for the implicit localhost
	// Implicit is set on the localhost Ansible makes up when a pattern names
	// it and the inventory does not define it: local connection, not in all.
	Implicit bool

	own  map[string]any // host vars written in inventory files
	port int
}

// Inventory is a loaded inventory. group_by and add_host change it while
// hosts run in parallel (dynamic.go), so every exported method holds mu;
// the *Host values it hands out are never changed afterwards: a change
// replaces a host's value instead.
type Inventory struct {
	Path string // the sources, for messages

	mu         sync.Mutex
	hosts      map[string]*Host
	order      []string // host names, first seen first
	groups     map[string]*group
	groupOrder []string
	localhost  string           // first localhost-like host the inventory defines
	implicit   map[string]*Host // implicit localhosts made so far
	layers     varLayers
	secrets    []string
	warnings   []string
	// dec reads group_vars/ and host_vars/ files of groups and hosts made
	// during the run; nil for an inventory without such directories
	dec *decoder
	// runRank places what group_by and add_host add (dynamic.go)
	runRank map[string]int
	// groupsMemo is Groups' answer until a group's members change, and gen
	// counts those changes: every task of every host reads `groups`, and
	// working it out again each time costs O(hosts) a task-host, O(hosts²)
	// a task over the fleet.
	groupsMemo map[string][]string
	gen        uint64
}

type group struct {
	name     string
	vars     map[string]any
	hosts    []string
	children []string
	parents  []string
	depth    int
	priority int
}

// localhostNames are the names that mean the controller (ansible-core's
// C.LOCALHOST).
var localhostNames = []string{"localhost", "127.0.0.1", "::1"}

func newInventory(path string) *Inventory {
	inv := &Inventory{Path: path, hosts: map[string]*Host{}, groups: map[string]*group{}, implicit: map[string]*Host{}}
	inv.addGroup("all")
	inv.addGroup("ungrouped")
	inv.link("all", "ungrouped")
	return inv
}

// Hosts returns every inventory host, first seen first (never the implicit
// localhost).
func (inv *Inventory) Hosts() []*Host {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]*Host, 0, len(inv.order))
	for _, n := range inv.order {
		out = append(out, inv.hosts[n])
	}
	return out
}

// Host returns a host by name; localhost names give the implicit localhost
// when the inventory does not define one, as in ansible-core.
func (inv *Inventory) Host(name string) (*Host, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.host(name)
}

func (inv *Inventory) host(name string) (*Host, bool) {
	if h, ok := inv.hosts[name]; ok {
		return h, true
	}
	if h := inv.implicitLocalhost(name); h != nil {
		return h, true
	}
	return nil, false
}

// Groups returns group name → member host names (Ansible's `groups`
// variable): every group, all and ungrouped included. The map is shared by
// every caller until the groups change: read it, never modify it.
func (inv *Inventory) Groups() map[string][]string {
	g, _ := inv.GroupsGen()
	return g
}

// GroupsGen returns Groups and the generation it belongs to, which changes
// whenever a group's members do (add_host, group_by): a caller that derives
// something from the groups redoes it only when the generation moves.
func (inv *Inventory) GroupsGen() (map[string][]string, uint64) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.groupsMemo == nil {
		out := make(map[string][]string, len(inv.groups))
		for name := range inv.groups {
			out[name] = inv.groupHosts(name)
		}
		inv.groupsMemo = out
	}
	return inv.groupsMemo, inv.gen
}

// groupsChanged drops the memo of Groups; call it under mu whenever a
// group or a membership may change.
func (inv *Inventory) groupsChanged() {
	inv.groupsMemo = nil
	inv.gen++
}

// GroupNames returns the groups in the order they were first seen.
func (inv *Inventory) GroupNames() []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return slices.Clone(inv.groupOrder)
}

// GroupVars returns the variables a group's own inventory file sets.
func (inv *Inventory) GroupVars(name string) map[string]any {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if g, ok := inv.groups[name]; ok {
		return maps.Clone(g.vars)
	}
	return nil
}

// Children returns a group's direct child groups.
func (inv *Inventory) Children(name string) []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if g, ok := inv.groups[name]; ok {
		return slices.Clone(g.children)
	}
	return nil
}

// DirectHosts returns the hosts listed in a group itself (not its children).
func (inv *Inventory) DirectHosts(name string) []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if g, ok := inv.groups[name]; ok {
		return slices.Clone(g.hosts)
	}
	return nil
}

// Secrets returns every value decrypted from a vault, so callers mask them.
func (inv *Inventory) Secrets() []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return slices.Clone(inv.secrets)
}

// Warnings returns what loading found worth telling, in Ansible's words.
func (inv *Inventory) Warnings() []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return slices.Clone(inv.warnings)
}

// AddLocalhost is kept for callers written before the implicit localhost
// moved into Match and Host; it changes nothing.
//
// Deprecated: Match("localhost") returns the implicit localhost.
func (inv *Inventory) AddLocalhost() {}

// groupHosts lists a group's hosts as ansible-core's Group.get_hosts: its
// own hosts, then its descendants' breadth first, without duplicates.
func (inv *Inventory) groupHosts(name string) []string {
	var out []string
	seenHost := map[string]bool{}
	seenGroup := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		g := inv.groups[queue[0]]
		queue = queue[1:]
		for _, h := range g.hosts {
			if !seenHost[h] {
				seenHost[h] = true
				out = append(out, h)
			}
		}
		for _, c := range g.children {
			if !seenGroup[c] {
				seenGroup[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}
