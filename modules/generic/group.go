package generic

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "group",
		Summary: "Create, renumber or remove a local group (ansible.builtin.group)",
		CheckMode: "Reads /etc/group as a file and reports the group groupadd, groupmod or groupdel would create, " +
			"renumber or remove. Changes nothing.",
		Example: `- name: The docker group, before the users that join it
  ansible.builtin.group:
    name: docker
    system: true`,
		New: func() modules.Module { return &Group{} },
	})
}

// Group is ansible.builtin.group on Linux: groupadd, groupmod -g and
// groupdel, decided from /etc/group.
type Group struct {
	Name      string `yaml:"name" required:"true" doc:"the group name"`
	State     string `yaml:"state" default:"present" choices:"present,absent" doc:"whether the group exists"`
	GID       *int   `yaml:"gid" doc:"the group ID; an existing group is renumbered"`
	System    bool   `yaml:"system" doc:"create a system group (ID below GID_MIN); only on creation"`
	NonUnique bool   `yaml:"non_unique" doc:"allow a gid another group already has (needs gid)"`

	result map[string]any
}

func (m *Group) Validate() error {
	if err := validAccountName("group", m.Name); err != nil {
		return err
	}
	switch {
	case m.GID != nil && *m.GID < 0:
		return fmt.Errorf("gid %d: expected a number from 0", *m.GID)
	case m.NonUnique && m.GID == nil:
		return errors.New("non_unique needs gid")
	}
	return nil
}

func (m *Group) Reads() []string { return []string{"/etc/group"} }

func (m *Group) Result() map[string]any { return m.result }

func (m *Group) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	db, err := readAccounts(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	op := &accountOp{}
	d := plan.Diff{State: op}
	res := "group:" + m.Name
	g, exists := m.find(db)
	m.result = map[string]any{"name": m.Name, "state": m.State}
	if exists {
		m.result["gid"], m.result["system"] = g.GID, m.System
	}
	switch {
	case m.State == "absent" && exists:
		op.cmds = append(op.cmds, conn.Join("groupdel", m.Name))
		d.Add(plan.Change{Resource: res, Action: plan.Delete, Before: "gid " + strconv.Itoa(g.GID)})
	case m.State == "absent":
	case !exists:
		cmd := []string{"groupadd"}
		after := "new"
		if m.GID != nil {
			cmd = append(cmd, "-g", strconv.Itoa(*m.GID))
			after = "gid " + strconv.Itoa(*m.GID)
			if m.NonUnique {
				cmd = append(cmd, "-o")
			}
		}
		if m.System {
			cmd = append(cmd, "-r")
			after += ", system"
		}
		op.cmds = append(op.cmds, conn.Join(append(cmd, m.Name)...))
		d.Add(plan.Change{Resource: res, Action: plan.Create, After: after})
	case m.GID != nil && g.GID != *m.GID:
		cmd := []string{"groupmod", "-g", strconv.Itoa(*m.GID)}
		if m.NonUnique {
			cmd = append(cmd, "-o")
		}
		op.cmds = append(op.cmds, conn.Join(append(cmd, m.Name)...))
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "gid", Before: strconv.Itoa(g.GID), After: strconv.Itoa(*m.GID)})
	}
	return d, nil
}

// find looks the group up by name only: a numeric name is a name here.
func (m *Group) find(db *accountDB) (groupEntry, bool) {
	for _, g := range db.groups {
		if g.Name == m.Name {
			return g, true
		}
	}
	return groupEntry{}, false
}

func (m *Group) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*accountOp](h, "group", d)
	if err != nil {
		return err
	}
	if err := op.run(ctx, h); err != nil {
		return fmt.Errorf("group %s: %w", m.Name, err)
	}
	delete(m.result, "gid")
	if m.State == "present" {
		db, err := readAccounts(ctx, h)
		if err != nil {
			return err
		}
		if g, ok := m.find(db); ok {
			m.result["gid"], m.result["system"] = g.GID, m.System
		}
	}
	return nil
}

var (
	_ modules.Module   = (*Group)(nil)
	_ modules.Resulter = (*Group)(nil)
	_ modules.Reader   = (*Group)(nil)
)
