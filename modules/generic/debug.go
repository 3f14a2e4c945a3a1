package generic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "debug",
		Summary:   "Print a message or a variable in the task's output",
		CheckMode: "Prints the same as in a real run; changes nothing.",
		Example: `- debug:
    var: init.stdout_lines
- debug:
    msg: "{{ inventory_hostname }} has {{ gpu_count }} GPUs"`,
		FreeForm: "msg",
		New:      func() modules.Module { return &Debug{} },
	})
}

// Debug shows a value; the engine renders msg's templates before decoding.
type Debug struct {
	Msg       any    `yaml:"msg" doc:"message (or any value) to print; default Hello world!"`
	Var       string `yaml:"var" doc:"variable or expression (without {{ }}) to print with its name, instead of msg"`
	Verbosity int    `yaml:"verbosity" doc:"accepted for compatibility; gpuctl always prints"`

	message string
	result  map[string]any
}

func (m *Debug) Validate() error {
	if m.Msg != nil && m.Var != "" {
		return errors.New("msg and var are mutually exclusive")
	}
	return nil
}

func (m *Debug) Message() string        { return m.message }
func (m *Debug) Result() map[string]any { return m.result }

func (m *Debug) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if m.Var != "" {
		v, err := h.Eval(m.Var)
		if err != nil {
			// Ansible prints this rather than failing the task.
			v = "VARIABLE IS NOT DEFINED!"
		}
		m.result = map[string]any{m.Var: v}
		m.message = m.Var + ": " + show(v)
		return plan.Diff{}, nil
	}
	msg := m.Msg
	if msg == nil {
		msg = "Hello world!"
	}
	m.result = map[string]any{"msg": msg}
	m.message = show(msg)
	return plan.Diff{}, nil
}

func (m *Debug) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

// show prints strings as they are and anything else as indented JSON.
func show(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

var (
	_ modules.Module   = (*Debug)(nil)
	_ modules.Messager = (*Debug)(nil)
	_ modules.Resulter = (*Debug)(nil)
)
