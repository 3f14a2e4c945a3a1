package inventory

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// INI inventories follow ansible-core's ini plugin: [group] lists hosts
// (with key=value vars after the name, values read as Python literals),
// [group:children] lists groups, [group:vars] sets key = value; hosts
// before any section are ungrouped; ';' and '#' start comment lines.
var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

type iniPending struct {
	line    int
	state   string
	parents []string
}

type iniReader struct {
	b       *builder
	path    string
	line    int
	group   string
	state   string
	pending map[string]*iniPending
	order   []string // pending names, first declared first, for stable errors
}

func (r *iniReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", filepath.Clean(r.path), r.line, fmt.Sprintf(format, args...))
}

// parseINI reads an INI inventory into b.
func (b *builder) parseINI(path string, data []byte) error {
	r := &iniReader{b: b, path: path, group: "ungrouped", state: "hosts", pending: map[string]*iniPending{}}
	for i, raw := range strings.Split(string(data), "\n") {
		r.line = i + 1
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if err := r.parseLine(line); err != nil {
			return err
		}
	}
	return r.finish()
}

func (r *iniReader) parseLine(line string) error {
	if m := iniSection.FindStringSubmatch(line); m != nil {
		return r.section(m[1], m[2])
	}
	if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
		return r.errorf("invalid section entry: '%s'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters", line)
	}
	switch r.state {
	case "hosts":
		return r.hostLine(line)
	case "vars":
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return r.errorf("expected key=value, got: %s", line)
		}
		if err := r.b.setGroupVar(r.group, strings.TrimSpace(k), pyLiteral(strings.TrimSpace(v))); err != nil {
			return r.errorf("%v", err)
		}
	case "children":
		m := iniGroupName.FindStringSubmatch(line)
		if m == nil {
			return r.errorf("expected group name, got: %s", line)
		}
		return r.child(m[1])
	}
	return nil
}

func (r *iniReader) section(name, state string) error {
	if state == "" {
		state = "hosts"
	}
	if state != "hosts" && state != "children" && state != "vars" {
		return r.errorf("section [%s:%s] has unknown type: %s (expected hosts, children or vars)", name, state, state)
	}
	r.group, r.state = name, state
	inv := r.b.inv
	if _, exists := inv.groups[name]; !exists {
		if state == "vars" && r.pending[name] == nil {
			r.declare(name, &iniPending{line: r.line, state: state})
		}
		inv.addGroup(name)
	}
	if p := r.pending[name]; p != nil && state != "vars" {
		if p.state == "children" {
			return r.addPendingChildren(name)
		}
		r.undeclare(name)
	}
	return nil
}

func (r *iniReader) declare(name string, p *iniPending) {
	r.pending[name] = p
	r.order = append(r.order, name)
}

func (r *iniReader) undeclare(name string) {
	delete(r.pending, name)
}

// addPendingChildren links a group, now declared, under the parents that
// named it earlier, as ansible-core's _add_pending_children.
func (r *iniReader) addPendingChildren(name string) error {
	p := r.pending[name]
	r.undeclare(name)
	for _, parent := range p.parents {
		if err := r.b.inv.link(parent, name); err != nil {
			return r.errorf("%v", err)
		}
		if pp := r.pending[parent]; pp != nil && pp.state == "children" {
			if err := r.addPendingChildren(parent); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *iniReader) child(name string) error {
	if _, exists := r.b.inv.groups[name]; exists {
		if err := r.b.inv.link(r.group, name); err != nil {
			return r.errorf("%v", err)
		}
		return nil
	}
	if p := r.pending[name]; p != nil {
		p.parents = append(p.parents, r.group)
		return nil
	}
	r.declare(name, &iniPending{line: r.line, state: "children", parents: []string{r.group}})
	return nil
}

func (r *iniReader) hostLine(line string) error {
	tokens, err := shlexSplit(line)
	if err != nil {
		return r.errorf("error parsing host definition '%s': %v", line, err)
	}
	if len(tokens) == 0 {
		return nil
	}
	if tokens[0] == "---" {
		return r.errorf("invalid host pattern '---' supplied, '---' is normally a sign this is a YAML file")
	}
	names, port, err := expandHosts(tokens[0])
	if err != nil {
		return r.errorf("%v", err)
	}
	vars := map[string]any{}
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return r.errorf("expected key=value host variable assignment, got: %s", t)
		}
		vars[k] = pyLiteral(v)
	}
	for _, n := range names {
		h, err := r.b.addHost(n, r.group, port)
		if err != nil {
			return r.errorf("%v", err)
		}
		for k, v := range vars {
			h.own[k] = v
		}
	}
	return nil
}

// finish reports groups that were only referred to, never declared.
func (r *iniReader) finish() error {
	for _, name := range r.order {
		p := r.pending[name]
		if p == nil {
			continue
		}
		r.line = p.line
		if p.state == "vars" {
			return r.errorf("section [%s:vars] not valid for undefined group: %s", name, name)
		}
		return r.errorf("section [%s:children] includes undefined group: %s", p.parents[len(p.parents)-1], name)
	}
	return nil
}
