package generic

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "shell",
		Summary: "Run a command line through the host's shell (pipes, redirection, variables)",
		CheckMode: "Reports the command line it would run (action run). With creates/removes it tests the path " +
			"and reports nothing when the command would be skipped. Never runs the command.",
		Example: `- name: Record the driver version
  shell: nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1 > /etc/gpu-driver
  args:
    creates: /etc/gpu-driver
    executable: /bin/bash`,
		FreeForm: "cmd",
		New:      func() modules.Module { return &Shell{} },
	})
}

// Shell runs a command line through a shell on the host.
type Shell struct {
	Cmd        string `yaml:"cmd" required:"true" doc:"the shell command line (the free-form task value)"`
	Executable string `yaml:"executable" doc:"shell to run it with, e.g. /bin/bash; default /bin/sh"`
	ExecArgs   `yaml:",squash"`

	run runner
}

func (m *Shell) Validate() error {
	if strings.TrimSpace(m.Cmd) == "" {
		return errors.New("cmd is empty")
	}
	if m.Executable != "" && !path.IsAbs(m.Executable) {
		return errors.New("executable must be an absolute path such as /bin/bash")
	}
	m.run.cmdline, m.run.cmd = m.Cmd, m.Cmd
	if m.Executable != "" {
		m.run.cmdline = conn.Join(m.Executable, "-c", m.Cmd)
	}
	return m.ExecArgs.validate()
}

func (m *Shell) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	m.run.ExecArgs = m.ExecArgs
	d, err := m.run.check(ctx, h)
	// Show what the user wrote, not the executable wrapper around it.
	for i, c := range d.Changes {
		if c.Action == plan.Run {
			d.Changes[i].After = m.Cmd
		}
	}
	return d, err
}

func (m *Shell) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	m.run.ExecArgs = m.ExecArgs
	return m.run.apply(ctx, h)
}

func (m *Shell) Unverified() bool       { return m.unverified() }
func (m *Shell) Reads() []string        { return m.reads() }
func (m *Shell) Result() map[string]any { return m.run.result }

// Detach is the command line Apply would run (modules.Detacher).
func (m *Shell) Detach() modules.DetachedCommand {
	m.run.ExecArgs = m.ExecArgs
	return m.run.detach()
}

var (
	_ modules.Module     = (*Shell)(nil)
	_ modules.Resulter   = (*Shell)(nil)
	_ modules.Unverified = (*Shell)(nil)
	_ modules.Reader     = (*Shell)(nil)
	_ modules.Detacher   = (*Shell)(nil)
)
