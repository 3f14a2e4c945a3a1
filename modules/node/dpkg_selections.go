package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "dpkg_selections",
		Summary: "Hold a package at its version, or set another dpkg selection (ansible.builtin.dpkg_selections)",
		CheckMode: "Asks dpkg for the package's selection and reports the one that would change. Changes nothing; " +
			"a package dpkg does not know yet is known after apply.",
		Example: `- name: kubelet stays at the version installed
  ansible.builtin.dpkg_selections:
    name: kubelet
    selection: hold`,
		New: func() modules.Module { return &DpkgSelections{} },
	})
}

// DpkgSelections is ansible.builtin.dpkg_selections: dpkg --get-selections
// and --set-selections.
type DpkgSelections struct {
	Name      string `yaml:"name" required:"true" doc:"the package"`
	Selection string `yaml:"selection" required:"true" choices:"install,hold,deinstall,purge" doc:"the selection to set"`

	before string
}

func (m *DpkgSelections) Validate() error {
	if !validPkgName.MatchString(m.Name) {
		return fmt.Errorf("name %q is not a Debian package name", m.Name)
	}
	return nil
}

func (m *DpkgSelections) Result() map[string]any {
	return map[string]any{"before": m.before, "after": m.Selection}
}

func (m *DpkgSelections) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	res, err := c.Run(ctx, conn.Join("dpkg", "--get-selections", m.Name), conn.Env(map[string]string{"LC_ALL": "C"}))
	if err != nil {
		return plan.Diff{}, fmt.Errorf("dpkg --get-selections %s: %w", m.Name, err)
	}
	f := strings.Fields(res.Stdout)
	if strings.Contains(res.Stderr, "no packages found matching") || len(f) < 2 {
		// dpkg ignores a selection for a package it has never seen, so
		// Ansible would report a change on every run; an earlier apt task
		// may be installing it.
		m.before = "not present"
		return plan.Diff{}, modules.NotYet("dpkg_selections: dpkg does not know package %s (install it first)", m.Name)
	}
	m.before = f[1]
	s := &steps{}
	if m.before != m.Selection {
		s.add(plan.Change{Resource: "package:" + m.Name, Action: plan.Update, Field: "selection", Before: m.before, After: m.Selection},
			func(ctx context.Context, c conn.Conn) error {
				return sh(ctx, c, "dpkg --set-selections", conn.Stdin(strings.NewReader(m.Name+" "+m.Selection+"\n")))
			})
	}
	return s.diff(), nil
}

func (m *DpkgSelections) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "dpkg_selections", d)
}

var (
	_ modules.Module   = (*DpkgSelections)(nil)
	_ modules.Resulter = (*DpkgSelections)(nil)
)
