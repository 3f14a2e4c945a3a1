// Package inventory reads Ansible's YAML inventory format: groups with
// hosts, vars and children, nested to any depth, and host patterns.
package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Host is one inventory host with its variables resolved by Ansible's
// precedence: all's vars, then each group from the outermost to the
// innermost, then the host's own.
type Host struct {
	Name   string
	Vars   map[string]any
	Groups []string // every group the host belongs to, all included
}

// Inventory is a parsed inventory.
type Inventory struct {
	Path   string
	hosts  map[string]*Host
	order  []string // host names in file order
	groups map[string]*group
}

type group struct {
	name     string
	vars     map[string]any
	hosts    []string
	children []string
	parents  []string
	depth    int
}

// Load reads and parses an inventory file.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, data)
}

// Parse parses inventory YAML; path only labels errors.
func Parse(path string, data []byte) (*Inventory, error) {
	inv := &Inventory{Path: path, hosts: map[string]*Host{}, groups: map[string]*group{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	inv.group("all")
	if len(root.Content) == 0 {
		return inv, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, errAt(path, doc, "inventory must be a mapping of groups (all: hosts/children/vars)")
	}
	hostVars := map[string]map[string]any{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		name := doc.Content[i].Value
		if err := inv.parseGroup(path, name, doc.Content[i+1], hostVars); err != nil {
			return nil, err
		}
		if name != "all" {
			inv.link("all", name)
		}
	}
	if err := inv.resolve(hostVars); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

func (inv *Inventory) group(name string) *group {
	g, ok := inv.groups[name]
	if !ok {
		g = &group{name: name, vars: map[string]any{}}
		inv.groups[name] = g
	}
	return g
}

func (inv *Inventory) link(parent, child string) {
	p, c := inv.group(parent), inv.group(child)
	if !slices.Contains(p.children, child) {
		p.children = append(p.children, child)
	}
	if !slices.Contains(c.parents, parent) {
		c.parents = append(c.parents, parent)
	}
}

func (inv *Inventory) parseGroup(path, name string, n *yaml.Node, hostVars map[string]map[string]any) error {
	g := inv.group(name)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(path, n, fmt.Sprintf("group %q must be a mapping with hosts, children or vars", name))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		switch key.Value {
		case "hosts":
			if isNull(val) {
				continue
			}
			if val.Kind != yaml.MappingNode {
				return errAt(path, val, fmt.Sprintf("hosts of group %q must be a mapping of host names", name))
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				hn := val.Content[j].Value
				if _, ok := inv.hosts[hn]; !ok {
					inv.hosts[hn] = &Host{Name: hn}
					inv.order = append(inv.order, hn)
				}
				if !slices.Contains(g.hosts, hn) {
					g.hosts = append(g.hosts, hn)
				}
				if isNull(val.Content[j+1]) {
					continue
				}
				var hv map[string]any
				if err := val.Content[j+1].Decode(&hv); err != nil {
					return errAt(path, val.Content[j+1], fmt.Sprintf("vars of host %q must be a mapping", hn))
				}
				if hostVars[hn] == nil {
					hostVars[hn] = map[string]any{}
				}
				for k, v := range hv {
					hostVars[hn][k] = v
				}
			}
		case "vars":
			if isNull(val) {
				continue
			}
			var gv map[string]any
			if err := val.Decode(&gv); err != nil {
				return errAt(path, val, fmt.Sprintf("vars of group %q must be a mapping", name))
			}
			for k, v := range gv {
				g.vars[k] = v
			}
		case "children":
			if isNull(val) {
				continue
			}
			if val.Kind != yaml.MappingNode {
				return errAt(path, val, fmt.Sprintf("children of group %q must be a mapping of groups", name))
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				child := val.Content[j].Value
				inv.link(name, child)
				if err := inv.parseGroup(path, child, val.Content[j+1], hostVars); err != nil {
					return err
				}
			}
		default:
			return errAt(path, key, fmt.Sprintf("unknown key %q in group %q (expected hosts, children or vars)", key.Value, name))
		}
	}
	return nil
}

func (inv *Inventory) resolve(hostVars map[string]map[string]any) error {
	// depth orders group vars: a child group's vars beat its parent's.
	var setDepth func(name string, d int, seen map[string]bool) error
	setDepth = func(name string, d int, seen map[string]bool) error {
		if seen[name] {
			return fmt.Errorf("group %q is its own ancestor", name)
		}
		g := inv.groups[name]
		if d > g.depth {
			g.depth = d
		}
		seen[name] = true
		defer delete(seen, name)
		for _, c := range g.children {
			if err := setDepth(c, d+1, seen); err != nil {
				return err
			}
		}
		return nil
	}
	if err := setDepth("all", 0, map[string]bool{}); err != nil {
		return err
	}
	for _, hn := range inv.order {
		h := inv.hosts[hn]
		var groups []*group
		for _, g := range inv.groups {
			if inv.contains(g.name, hn, map[string]bool{}) {
				groups = append(groups, g)
			}
		}
		sort.SliceStable(groups, func(a, b int) bool {
			if groups[a].depth != groups[b].depth {
				return groups[a].depth < groups[b].depth
			}
			return groups[a].name < groups[b].name
		})
		h.Vars = map[string]any{}
		for _, g := range groups {
			h.Groups = append(h.Groups, g.name)
			for k, v := range g.vars {
				h.Vars[k] = v
			}
		}
		for k, v := range hostVars[hn] {
			h.Vars[k] = v
		}
	}
	return nil
}

// contains reports whether host is in group or any of its descendants.
func (inv *Inventory) contains(groupName, host string, seen map[string]bool) bool {
	if groupName == "all" {
		return true
	}
	if seen[groupName] {
		return false
	}
	seen[groupName] = true
	g := inv.groups[groupName]
	if slices.Contains(g.hosts, host) {
		return true
	}
	for _, c := range g.children {
		if inv.contains(c, host, seen) {
			return true
		}
	}
	return false
}

// Hosts returns every host in file order.
func (inv *Inventory) Hosts() []*Host {
	out := make([]*Host, 0, len(inv.order))
	for _, n := range inv.order {
		out = append(out, inv.hosts[n])
	}
	return out
}

// Host returns a host by name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hosts[name]
	return h, ok
}

// Groups returns group name → member host names, for the `groups` variable.
func (inv *Inventory) Groups() map[string][]string {
	out := map[string][]string{}
	for name := range inv.groups {
		var members []string
		for _, hn := range inv.order {
			if inv.contains(name, hn, map[string]bool{}) {
				members = append(members, hn)
			}
		}
		out[name] = members
	}
	return out
}

// AddLocalhost makes an implicit localhost with the local connection
// available, as Ansible does, when the inventory does not define one.
func (inv *Inventory) AddLocalhost() {
	if _, ok := inv.hosts["localhost"]; ok {
		return
	}
	inv.hosts["localhost"] = &Host{Name: "localhost", Vars: map[string]any{"ansible_connection": "local"}, Groups: []string{"all", "ungrouped"}}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "")
}

func errAt(path string, n *yaml.Node, msg string) error {
	return fmt.Errorf("%s:%d:%d: %s", filepath.Clean(path), n.Line, n.Column, msg)
}

// ErrNoMatch is wrapped when a pattern selects no hosts.
var ErrNoMatch = fmt.Errorf("pattern matched no hosts")

// Match selects hosts by an Ansible pattern: "all", "*", group or host
// names, globs, unions "a:b" (or "a,b"), exclusions "a:!b" and
// intersections "a:&b". Order follows the inventory file.
func (inv *Inventory) Match(pattern string) ([]*Host, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		pattern = "all"
	}
	parts := splitPattern(pattern)
	selected := map[string]bool{}
	var unknown []string
	for _, p := range parts {
		switch {
		case strings.HasPrefix(p, "!"):
			for h := range inv.term(p[1:]) {
				delete(selected, h)
			}
		case strings.HasPrefix(p, "&"):
			t := inv.term(p[1:])
			for h := range selected {
				if !t[h] {
					delete(selected, h)
				}
			}
		default:
			t := inv.term(p)
			if !inv.isKnown(p) {
				unknown = append(unknown, p)
			}
			for h := range t {
				selected[h] = true
			}
		}
	}
	var out []*Host
	for _, n := range inv.allNames() {
		if selected[n] {
			out = append(out, inv.hosts[n])
		}
	}
	if len(out) == 0 && len(unknown) > 0 {
		return nil, fmt.Errorf("%w: %s neither a group nor a host in %s", ErrNoMatch, strings.Join(quoteAll(unknown), ", "), inv.Path)
	}
	return out, nil
}

func (inv *Inventory) allNames() []string {
	names := slices.Clone(inv.order)
	if _, ok := inv.hosts["localhost"]; ok && !slices.Contains(names, "localhost") {
		names = append(names, "localhost")
	}
	return names
}

func (inv *Inventory) isKnown(p string) bool {
	_, g := inv.groups[p]
	_, h := inv.hosts[p]
	return g || h || strings.ContainsAny(p, "*?[")
}

func (inv *Inventory) term(p string) map[string]bool {
	out := map[string]bool{}
	if p == "all" || p == "*" {
		for _, n := range inv.order {
			out[n] = true
		}
		return out
	}
	if _, ok := inv.groups[p]; ok {
		for _, n := range inv.order {
			if inv.contains(p, n, map[string]bool{}) {
				out[n] = true
			}
		}
		return out
	}
	if _, ok := inv.hosts[p]; ok {
		out[p] = true
		return out
	}
	if strings.ContainsAny(p, "*?[") {
		for name := range inv.groups {
			if ok, _ := filepath.Match(p, name); ok {
				for k := range inv.term(name) {
					out[k] = true
				}
			}
		}
		for _, n := range inv.allNames() {
			if ok, _ := filepath.Match(p, n); ok {
				out[n] = true
			}
		}
	}
	return out
}

func splitPattern(p string) []string {
	f := func(r rune) bool { return r == ':' || r == ',' }
	var out []string
	for _, s := range strings.FieldsFunc(p, f) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q is", x)
	}
	return out
}
