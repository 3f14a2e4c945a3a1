package generic

import (
	"context"
	"errors"
	"fmt"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "ping",
		Summary:   "Check that the host answers: run a command there and return pong",
		CheckMode: "Runs the same harmless command as a real run; changes nothing.",
		Example: `- ping:
- ansible.builtin.ping:
    data: alive`,
		New: func() modules.Module { return &Ping{} },
	})
}

// Ping is ansible.builtin.ping. Ansible's runs a Python module on the host
// to prove it can; gpuctl needs no Python there, so it proves what it
// needs instead: a command runs over the connection and its output comes
// back.
type Ping struct {
	Data string `yaml:"data" default:"pong" doc:"what to return as ping; crash fails the task, as Ansible's module raises"`

	result map[string]any
}

func (m *Ping) Validate() error { return nil }

func (m *Ping) Result() map[string]any { return m.result }

func (m *Ping) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	out, err := conn.Output(ctx, h.Conn(), "echo pong")
	if err != nil {
		return plan.Diff{}, err
	}
	if out != "pong" {
		return plan.Diff{}, fmt.Errorf("ping: the host answered %q to echo pong", out)
	}
	if m.Data == "crash" {
		return plan.Diff{}, errors.New("boom") // ansible.builtin.ping's own test of failure
	}
	m.result = map[string]any{"ping": m.Data}
	return plan.Diff{}, nil
}

func (m *Ping) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

var (
	_ modules.Module   = (*Ping)(nil)
	_ modules.Resulter = (*Ping)(nil)
)
