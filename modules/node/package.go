package node

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "package",
		Summary: "Install or remove packages with the host's package manager: apt on Debian and Ubuntu",
		CheckMode: "Reads /etc/os-release, then does what apt does under --check: simulates and reports the exact " +
			"packages and versions; changes nothing.",
		Example: `- name: Tools every node needs
  package:
    name: [curl, jq, chrony]
    state: present`,
		New: func() modules.Module { return &Package{} },
	})
}

// Package is Ansible's generic package module. gpuctl manages Debian and
// Ubuntu, so it is apt with the arguments the two modules share; a host
// of another family fails naming its OS.
type Package struct {
	Name  []string `yaml:"name" required:"true" aliases:"pkg" doc:"package names, NAME or NAME=VERSION"`
	State string   `yaml:"state" default:"present" choices:"present,installed,latest,absent,removed" doc:"present (installed), latest or absent (removed)"`
	Use   string   `yaml:"use" default:"auto" doc:"the package manager; auto and apt work, any other name fails on the host that reaches the task"`

	apt *Apt
}

// Provision maps Ansible's synonyms onto apt's states.
func (m *Package) Provision() {
	state := map[string]string{"installed": "present", "removed": "absent"}[m.State]
	if state == "" {
		state = m.State
	}
	m.apt = &Apt{Name: m.Name, State: state}
}

func (m *Package) Validate() error { return m.apt.Validate() }

func (m *Package) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	d, err := readDistro(ctx, h.Conn())
	if err != nil {
		return plan.Diff{}, err
	}
	family := d.ID
	if r, err := h.Conn().Run(ctx, "command -v apt-get"); err == nil && r.OK() {
		family = "apt"
	}
	if family != "apt" || !slices.Contains([]string{"auto", "apt"}, m.Use) {
		return plan.Diff{}, fmt.Errorf("package (use: %s) on %s: gpuctl installs packages with apt on Debian and Ubuntu only; "+
			"guard the task with `when: ansible_os_family == \"Debian\"`", m.Use, strings.TrimSpace(d.name()))
	}
	return m.apt.Check(ctx, h)
}

func (m *Package) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return m.apt.Apply(ctx, h, d)
}

var (
	_ modules.Module      = (*Package)(nil)
	_ modules.Provisioner = (*Package)(nil)
)
