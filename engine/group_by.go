package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

func init() {
	modules.Register(modules.Info{
		Name:    "group_by",
		Summary: "Put the host in an inventory group named from its variables, for later plays and groups[...] (ansible.builtin.group_by)",
		CheckMode: "Changes the run's inventory as in a real run, as Ansible does, so later plays check the same hosts; " +
			"changes nothing on the host.",
		Example: `- group_by:
    key: "os_{{ ansible_distribution | lower }}"
    parents: [linux]
- hosts: os_debian
  tasks: ...`,
		New: func() modules.Module { return &GroupBy{} },
	})
}

// GroupBy is ansible.builtin.group_by. The group and its parents are made
// when missing and the group_vars/ files of new groups apply to the hosts
// put in them (inventory/dynamic.go).
type GroupBy struct {
	noWork
	Key     string   `yaml:"key" required:"true" doc:"the group to put the host in (spaces become dashes)"`
	Parents []string `yaml:"parents" doc:"groups the group becomes a child of (default: all)"`
}

func (m *GroupBy) Validate() error {
	if strings.TrimSpace(m.Key) == "" {
		return errors.New("key is empty: it names the group to put the host in")
	}
	for _, p := range m.Parents {
		if strings.TrimSpace(p) == "" {
			return errors.New("parents: an empty group name")
		}
	}
	return nil
}

func (m *GroupBy) act(_ context.Context, tr *taskRun, _ *taskHost) (execution, error) {
	group := strings.ReplaceAll(m.Key, " ", "-")
	parents := []string{"all"}
	if m.Parents != nil {
		parents = make([]string, len(m.Parents))
		for i, p := range m.Parents {
			parents[i] = strings.ReplaceAll(p, " ", "-")
		}
	}
	changed, err := tr.e.inv.GroupBy(tr.host.inv.Name, group, parents)
	if err != nil {
		return execution{err: err}, nil
	}
	if changed {
		tr.e.inventoryChanged("")
	}
	// ansible-core's action result has no "skipped"
	res := map[string]any{"changed": changed, "failed": false, "add_group": group, "parent_groups": toAnyList(parents)}
	return execution{res: res}, nil
}

var (
	_ modules.Module = (*GroupBy)(nil)
	_ action         = (*GroupBy)(nil)
)
