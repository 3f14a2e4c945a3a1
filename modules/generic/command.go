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
		Name:    "command",
		Summary: "Run a program on the host without a shell",
		CheckMode: "Reports the command line it would run (action run). With creates/removes it tests the path " +
			"and reports nothing when the command would be skipped. Never runs the command.",
		Example: `- name: Initialise the cluster once
  command: kubeadm init --config /etc/kubeadm.yaml
  args:
    creates: /etc/kubernetes/admin.conf
  register: init`,
		FreeForm: "cmd",
		New:      func() modules.Module { return &Command{} },
	})
}

// Command runs a program with its arguments quoted, so shell syntax in
// them is passed through literally.
type Command struct {
	Cmd      string   `yaml:"cmd" doc:"the command line, split into words like a shell would but without variables, pipes or redirection (the free-form task value)"`
	Argv     []string `yaml:"argv" doc:"the command as a list of words, instead of cmd"`
	ExecArgs `yaml:",squash"`

	run runner
}

func (m *Command) Validate() error {
	if (m.Cmd == "") == (len(m.Argv) == 0) {
		return errors.New("give exactly one of cmd (the free-form command) and argv")
	}
	argv := m.Argv
	if m.Cmd != "" {
		var err error
		if argv, err = splitArgs(m.Cmd); err != nil {
			return fmt.Errorf("cmd %q: %w", m.Cmd, err)
		}
		if len(argv) == 0 {
			return errors.New("cmd is empty")
		}
	}
	m.run.cmdline, m.run.cmd = conn.Join(argv...), argv
	return m.ExecArgs.validate()
}

func (m *Command) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	m.run.ExecArgs = m.ExecArgs
	return m.run.check(ctx, h)
}

func (m *Command) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	m.run.ExecArgs = m.ExecArgs
	return m.run.apply(ctx, h)
}

func (m *Command) Unverified() bool       { return m.unverified() }
func (m *Command) Reads() []string        { return m.reads() }
func (m *Command) Result() map[string]any { return m.run.result }

// Detach is the command line Apply would run (modules.Detacher).
func (m *Command) Detach() modules.DetachedCommand {
	m.run.ExecArgs = m.ExecArgs
	return m.run.detach()
}

var (
	_ modules.Module     = (*Command)(nil)
	_ modules.Resulter   = (*Command)(nil)
	_ modules.Unverified = (*Command)(nil)
	_ modules.Reader     = (*Command)(nil)
	_ modules.Detacher   = (*Command)(nil)
)
