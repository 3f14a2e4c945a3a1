package pymodule

import (
	"context"
	"fmt"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/plan"
)

// WindowsInfo describes a PowerShell module (win_copy, a collection's
// .ps1): roles carry tasks for Windows hosts beside their Linux ones and
// pick one with `when:`, so it loads, and fails only on a host that reaches
// it, as the other OS families' modules do.
func WindowsInfo(name, path string) modules.Info {
	return modules.Info{
		Name:      name,
		Summary:   "Windows (PowerShell) module " + path + ": loads for a role's Windows branches; fails on any host that reaches it",
		CheckMode: "Fails on any host that reaches it, under --check too.",
		AnyKeys:   true,
		New:       func() modules.Module { return &Windows{name: name} },
	}
}

// Windows accepts any arguments: checking them would only refuse content
// that a Linux host never runs.
type Windows struct {
	Args map[string]any `yaml:",remain" doc:"the Windows module's arguments; accepted and not used"`
	name string
}

func (m *Windows) Validate() error { return nil }

func (m *Windows) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	return plan.Diff{}, fmt.Errorf("%s is a Windows (PowerShell) module, and this host runs %s; gpuctl manages Debian and Ubuntu: "+
		"guard the task with `when: ansible_os_family == \"Windows\"` as the role's other branches do", m.name, generic.HostOS(ctx, h))
}

func (m *Windows) Apply(ctx context.Context, h modules.Host, _ plan.Diff) error {
	_, err := m.Check(ctx, h)
	return err
}

var _ modules.Module = (*Windows)(nil)
