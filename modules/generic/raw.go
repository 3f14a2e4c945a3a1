package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "raw",
		Summary: "Run a command line as it is, through the login shell over the connection (ansible.builtin.raw)",
		CheckMode: "Reports the command line it would run (action run); never runs it, as Ansible's raw does not " +
			"under --check.",
		Example: `- name: Python for the hosts Ansible's other modules need
  raw: test -e /usr/bin/python3 || (apt-get update && apt-get install -y python3)`,
		FreeForm: "free_form",
		New:      func() modules.Module { return &Raw{} },
	})
}

// Raw is ansible.builtin.raw: the string goes to the host unchanged, with
// no creates/removes, chdir or output trimming; it reports a change every
// time it runs.
type Raw struct {
	FreeForm   string `yaml:"free_form" required:"true" doc:"the command line (the free-form task value)"`
	Executable string `yaml:"executable" doc:"run it with this shell's -c instead of the login shell"`

	result map[string]any
}

func (m *Raw) Validate() error {
	if strings.TrimSpace(m.FreeForm) == "" {
		return errors.New("the command line is empty")
	}
	if m.Executable != "" && !path.IsAbs(m.Executable) {
		return errors.New("executable must be an absolute path such as /bin/bash")
	}
	return nil
}

func (m *Raw) cmdline() string {
	if m.Executable != "" {
		return conn.Join(m.Executable, "-c", m.FreeForm)
	}
	return m.FreeForm
}

func (m *Raw) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	d.Add(plan.Change{Resource: "command", Action: plan.Run, After: m.FreeForm})
	return d, nil
}

func (m *Raw) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	res, err := h.Conn().Run(ctx, m.cmdline())
	if err != nil {
		return fmt.Errorf("raw %q: %w", m.FreeForm, err)
	}
	m.result = map[string]any{"rc": res.ExitCode, "stdout": res.Stdout, "stderr": res.Stderr,
		"stdout_lines": outputLines(res.Stdout), "stderr_lines": outputLines(res.Stderr)}
	if res.ExitCode != 0 {
		m.result["msg"] = "non-zero return code"
		return &CommandError{Cmd: m.FreeForm, RC: res.ExitCode, Stderr: res.Stderr, Stdout: res.Stdout, result: m.result}
	}
	return nil
}

// outputLines is Python's str.splitlines for what raw registers: no empty
// last line for the final newline.
func outputLines(s string) []string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

func (m *Raw) Unverified() bool       { return true }
func (m *Raw) Result() map[string]any { return m.result }

var (
	_ modules.Module     = (*Raw)(nil)
	_ modules.Resulter   = (*Raw)(nil)
	_ modules.Unverified = (*Raw)(nil)
)
