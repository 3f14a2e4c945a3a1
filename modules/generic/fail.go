package generic

import (
	"context"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "fail",
		Summary:   "Fail the task with a message (usually under a when)",
		CheckMode: "Fails exactly as in a real run; changes nothing.",
		Example: `- fail:
    msg: "{{ inventory_hostname }} runs {{ ansible_distribution }}, which is not supported"
  when: ansible_os_family != "Debian"`,
		FreeForm: "msg",
		New:      func() modules.Module { return &Fail{} },
	})
}

// defaultFailMsg is ansible.builtin.fail's message when msg is not given.
const defaultFailMsg = "Failed as requested from task"

// Fail always fails; its when decides where.
type Fail struct {
	Msg any `yaml:"msg" doc:"message of the failure (any value; default: Failed as requested from task)"`
}

func (m *Fail) Validate() error { return nil }

func (m *Fail) Check(context.Context, modules.Host) (plan.Diff, error) {
	msg := defaultFailMsg
	if m.Msg != nil {
		msg = show(m.Msg)
	}
	return plan.Diff{}, &FailError{Msg: msg}
}

func (m *Fail) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

// FailError is the failure the fail module asks for.
type FailError struct{ Msg string }

func (e *FailError) Error() string { return e.Msg }

var _ modules.Module = (*Fail)(nil)
