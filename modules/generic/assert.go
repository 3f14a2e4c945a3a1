package generic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/template"
)

func init() {
	modules.Register(modules.Info{
		Name:      "assert",
		Summary:   "Fail unless every expression holds for the host",
		CheckMode: "Evaluates the expressions exactly as in a real run and fails the same way; changes nothing.",
		Example: `- name: Supported systems only
  assert:
    that:
      - ansible_distribution == "Ubuntu"
      - ansible_memtotal_mb >= 16000
    fail_msg: "{{ inventory_hostname }} is not a supported GPU node"`,
		New: func() modules.Module { return &Assert{} },
	})
}

// Assert evaluates Jinja2 expressions with the host's variables.
type Assert struct {
	That       []string `yaml:"that" required:"true" doc:"expressions (Jinja2, without {{ }}) that must all be true; a single string is one expression"`
	FailMsg    string   `yaml:"fail_msg" doc:"message when an expression is false (default: Assertion failed)"`
	Msg        string   `yaml:"msg" doc:"alias of fail_msg"`
	SuccessMsg string   `yaml:"success_msg" default:"All assertions passed" doc:"message when all hold"`
	Quiet      bool     `yaml:"quiet" doc:"print nothing when all hold"`

	message string
	result  map[string]any
}

func (m *Assert) Validate() error {
	if m.FailMsg != "" && m.Msg != "" {
		return errors.New("fail_msg and msg are the same argument; give one")
	}
	for i, e := range m.That {
		if strings.TrimSpace(e) == "" {
			return fmt.Errorf("that[%d] is empty", i)
		}
	}
	return nil
}

func (m *Assert) Message() string { return m.message }

func (m *Assert) Result() map[string]any {
	if m.result == nil {
		return map[string]any{"msg": m.message}
	}
	return m.result
}

// Check does the whole job: an assertion changes nothing.
func (m *Assert) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	for _, e := range m.That {
		expr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(e), "{{"), "}}")
		v, err := h.Eval(expr)
		if err != nil {
			return plan.Diff{}, fmt.Errorf("assert %q: %w", e, err)
		}
		if !template.Truthy(v) {
			msg := m.FailMsg
			if msg == "" {
				msg = m.Msg
			}
			if msg == "" {
				msg = "Assertion failed"
			}
			m.message = msg
			return plan.Diff{}, &AssertError{Msg: msg, Assertion: e}
		}
	}
	// quiet keeps the task line short; the registered msg stays, as in
	// Ansible.
	m.result = map[string]any{"msg": m.SuccessMsg}
	if !m.Quiet {
		m.message = m.SuccessMsg
	}
	return plan.Diff{}, nil
}

func (m *Assert) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

// AssertError names the expression that did not hold.
type AssertError struct {
	Msg       string
	Assertion string
}

func (e *AssertError) Error() string { return fmt.Sprintf("%s (failed: %s)", e.Msg, e.Assertion) }

// Result is what Ansible registers for a failed assert: the expression
// that was false and its value.
func (e *AssertError) Result() map[string]any {
	return map[string]any{"assertion": e.Assertion, "evaluated_to": false}
}

var (
	_ modules.Module   = (*Assert)(nil)
	_ modules.Messager = (*Assert)(nil)
	_ modules.Resulter = (*Assert)(nil)
)
