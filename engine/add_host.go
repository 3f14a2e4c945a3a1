package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
)

func init() {
	modules.Register(modules.Info{
		Name:    "add_host",
		Summary: "Add a host (and its groups and variables) to the run's inventory for later plays (ansible.builtin.add_host)",
		CheckMode: "Changes the run's inventory as in a real run, as Ansible does, so later plays check the new host; " +
			"changes nothing on any host.",
		Example: `- add_host:
    name: "{{ new_vm_ip }}"
    groups: [fresh]
    ansible_user: debian
- hosts: fresh
  tasks: ...`,
		AnyKeys: true,
		New:     func() modules.Module { return &AddHost{} },
	})
}

// AddHost is ansible.builtin.add_host. As Ansible's action it runs once per
// batch, on the first host, whatever run_once says (bypass_host_loop); a
// loop adds a host per item. Its arguments are read as ansible-core reads
// them, oddities included: host and group also become host variables.
type AddHost struct {
	noWork
	Name      string         `yaml:"name" doc:"the host's name; NAME:PORT sets ansible_ssh_port"`
	Hostname  string         `yaml:"hostname" doc:"the host's name, when name is not given"`
	Host      string         `yaml:"host" doc:"the host's name, when neither name nor hostname is given (also kept as a variable, as Ansible does)"`
	Groups    any            `yaml:"groups" doc:"groups to put the host in, made when missing: a list or a comma-separated string"`
	Groupname any            `yaml:"groupname" doc:"groups, when groups is not given"`
	Group     any            `yaml:"group" doc:"groups, when neither groupname nor groups is given (also kept as a variable, as Ansible does)"`
	Vars      map[string]any `yaml:",remain" doc:"every other key is a host variable"`

	host   string
	groups []string
	vars   map[string]any
}

func (m *AddHost) Validate() error {
	name := firstNonEmpty(m.Name, m.Hostname, m.Host)
	if name == "" {
		return errors.New("name, host or hostname needs to be provided")
	}
	host, port := inventory.ParseAddress(name)
	m.host = host
	m.vars = maps.Clone(m.Vars)
	if m.vars == nil {
		m.vars = map[string]any{}
	}
	if m.Host != "" {
		m.vars["host"] = m.Host
	}
	if m.Group != nil {
		m.vars["group"] = m.Group
	}
	if port > 0 {
		m.vars["ansible_ssh_port"] = port
	}
	groups := m.Groupname
	if groups == nil {
		groups = m.Groups
	}
	if groups == nil {
		groups = m.Group
	}
	var list []string
	switch g := groups.(type) {
	case nil:
	case string:
		if g != "" {
			list = strings.Split(g, ",")
		}
	case []any:
		for _, x := range g {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("groups: %v is not a group name", x)
			}
			list = append(list, s)
		}
	case []string:
		list = g
	default:
		return fmt.Errorf("groups must be specified as a list (or a comma-separated string), not %T", groups)
	}
	m.groups = nil
	for _, g := range list {
		// ansible-core compares before it strips: keep its duplicates.
		if !slices.Contains(m.groups, g) {
			m.groups = append(m.groups, strings.TrimSpace(g))
		}
	}
	if slices.Contains(m.groups, "") {
		return errors.New("groups: an empty group name")
	}
	return nil
}

func (m *AddHost) act(_ context.Context, tr *taskRun, _ *taskHost) (execution, error) {
	changed, err := tr.e.inv.AddHost(m.host, m.groups, m.vars)
	if err != nil {
		return execution{err: err}, nil
	}
	if changed {
		tr.e.inventoryChanged(m.host)
	}
	// ansible-core's action result has no "skipped"
	res := map[string]any{"changed": changed, "failed": false}
	res["add_host"] = map[string]any{"host_name": m.host, "groups": toAnyList(m.groups), "host_vars": maps.Clone(m.vars)}
	return execution{res: res}, nil
}

// bypassesHostLoop reports a task Ansible runs once for the batch, on its
// first host, whatever run_once says (an action's BYPASS_HOST_LOOP); the
// other hosts neither run nor register it.
func bypassesHostLoop(module string) bool {
	return module == "add_host"
}

var (
	_ modules.Module = (*AddHost)(nil)
	_ action         = (*AddHost)(nil)
)
