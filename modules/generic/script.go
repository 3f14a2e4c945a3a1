package generic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "script",
		Summary: "Copy a script from the controller to the host, run it there, remove it",
		CheckMode: "Finds the script on the controller (a missing one fails already), tests creates/removes " +
			"and reports the run it would do. Never copies or runs the script.",
		Example: `- name: Vendor tuning script, once
  script: tune-nic.sh --ring 4096
  args:
    creates: /etc/nic-tuned`,
		FreeForm: "cmd",
		New:      func() modules.Module { return &Script{} },
	})
}

// Script is ansible.builtin.script: the first word of cmd names a file on
// the controller (looked up in the role's and playbook's files/ as copy
// does), the rest are its arguments, passed through the host's shell.
type Script struct {
	Cmd        string `yaml:"cmd" doc:"the script's path on the controller and its arguments (the free-form task value)"`
	Executable string `yaml:"executable" doc:"program that runs the script (e.g. /usr/bin/python3); without it the script runs itself, by its #! line"`
	Decrypt    bool   `yaml:"decrypt" default:"true" doc:"accepted for Ansible playbooks; vaulted scripts are not decrypted (the run fails on them)"`
	ExecArgs   `yaml:",squash"`

	name, args string
	run        runner
}

func (m *Script) Validate() error {
	words, err := splitArgs(m.Cmd)
	if err != nil {
		return fmt.Errorf("cmd %q: %w", m.Cmd, err)
	}
	if len(words) == 0 {
		return errors.New("cmd is empty: give the script's path and its arguments")
	}
	m.name = words[0]
	m.args = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m.Cmd), firstWord(m.Cmd)))
	return m.ExecArgs.validate()
}

// firstWord is the script name as written, quotes included, so the rest of
// the line goes to the shell exactly as the user wrote it.
func firstWord(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	if i := strings.IndexAny(cmd, " \t"); i >= 0 {
		return cmd[:i]
	}
	return cmd
}

func (m *Script) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if _, _, err := findLocal(ctx, h, "files", m.name, false); err != nil {
		return plan.Diff{}, err
	}
	m.run = runner{ExecArgs: m.ExecArgs, cmdline: strings.TrimSpace(m.Executable + " " + m.name + " " + m.args), cmd: m.Cmd}
	return m.run.check(ctx, h)
}

func (m *Script) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil
	}
	src, _, err := findLocal(ctx, h, "files", m.name, false)
	if err != nil {
		return err
	}
	body, err := h.Local().ReadFile(ctx, src)
	if err != nil {
		return fmt.Errorf("script %s: %w", src, err)
	}
	if strings.HasPrefix(string(body), "$ANSIBLE_VAULT;") {
		return fmt.Errorf("script %s is vault-encrypted; gpuctl does not decrypt scripts", src)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := "/tmp/.gpuctl-script-" + hex.EncodeToString(suffix[:])
	if err := h.Conn().WriteFile(ctx, tmp, body, conn.FileAttrs{Mode: 0o700}); err != nil {
		return fmt.Errorf("copy script to %s: %w", tmp, err)
	}
	// The script goes whatever happens to the run, as Ansible's tmp dir does.
	defer func() { _ = conn.Remove(context.WithoutCancel(ctx), h.Conn(), tmp) }()
	line := conn.Quote(tmp)
	if m.Executable != "" {
		line = m.Executable + " " + line
	}
	if m.args != "" {
		line += " " + m.args
	}
	m.run.cmdline = line
	return m.run.apply(ctx, h)
}

func (m *Script) Unverified() bool       { return m.unverified() }
func (m *Script) Reads() []string        { return m.reads() }
func (m *Script) Result() map[string]any { return m.run.result }

var (
	_ modules.Module     = (*Script)(nil)
	_ modules.Resulter   = (*Script)(nil)
	_ modules.Unverified = (*Script)(nil)
	_ modules.Reader     = (*Script)(nil)
)
