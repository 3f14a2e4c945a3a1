package node

import (
	"context"
	"fmt"
	"maps"
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
// Ubuntu, so it is apt: like Ansible's package action, it hands every
// other argument to apt (allow_downgrade, update_cache, ...), and, as
// there, only apt's rules apply: name is not required (`package:
// {update_cache: true}` refreshes the cache). Arguments of
// other backends (yum's disablerepo) load, since roles keep them in
// branches a Debian host never takes; a host that reaches them fails, as
// apt fails them under Ansible. A host of another family fails naming its OS.
type Package struct {
	Name  []string       `yaml:"name" aliases:"pkg" doc:"package names, NAME or NAME=VERSION; may be left out for apt's other work (update_cache: true alone refreshes the cache)"`
	State string         `yaml:"state" default:"present" choices:"present,installed,latest,absent,removed" doc:"present (installed), latest or absent (removed)"`
	Use   string         `yaml:"use" default:"auto" doc:"the package manager; auto and apt work, any other name fails on the host that reaches the task"`
	Rest  map[string]any `yaml:",remain" doc:"any other argument of apt (see the apt module), or of another backend's module (yum's disablerepo), which fails on an apt host"`

	apt     *Apt
	aptErr  error
	foreign []string // arguments of other backends, sorted
}

// Provision maps Ansible's synonyms onto apt's states and decodes the other
// arguments as apt's; Validate reports what does not decode.
func (m *Package) Provision() {
	state := map[string]string{"installed": "present", "removed": "absent"}[m.State]
	if state == "" {
		state = m.State
	}
	args := map[string]any{"name": m.Name, "state": state}
	for _, k := range slices.Sorted(maps.Keys(m.Rest)) {
		if otherBackendArgs[k] != "" {
			m.foreign = append(m.foreign, k)
			continue
		}
		args[k] = m.Rest[k]
	}
	m.apt = &Apt{}
	m.aptErr = modules.Decode(args, m.apt)
}

func (m *Package) Validate() error {
	if m.aptErr != nil {
		return fmt.Errorf("%w (package takes apt's arguments on Debian and Ubuntu)", m.aptErr)
	}
	return m.apt.Validate()
}

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
	if len(m.foreign) > 0 {
		k := m.foreign[0]
		return plan.Diff{}, fmt.Errorf("package on %s uses apt, which does not take %s (an argument of %s; Ansible's apt fails it too): "+
			"guard the task with `when: ansible_os_family == \"RedHat\"` or drop the argument", strings.TrimSpace(d.name()), strings.Join(m.foreign, ", "), otherBackendArgs[k])
	}
	return m.apt.Check(ctx, h)
}

// otherBackendArgs are arguments of the package modules of other OS
// families, which Ansible's package passes to them: they load here.
var otherBackendArgs = map[string]string{
	"disablerepo": "yum and dnf", "enablerepo": "yum and dnf", "disable_gpg_check": "yum and dnf", "exclude": "yum and dnf",
	"installroot": "yum and dnf", "releasever": "yum and dnf", "security": "yum and dnf", "bugfix": "yum and dnf",
	"disable_plugin": "yum and dnf", "enable_plugin": "yum and dnf", "conf_file": "yum and dnf", "skip_broken": "yum and dnf",
	"update_only": "yum and dnf", "download_only": "yum and dnf", "download_dir": "yum and dnf", "sslverify": "yum and dnf",
	"nobest": "dnf", "cacheonly": "dnf", "allowerasing": "dnf", "disable_excludes": "yum and dnf", "install_weak_deps": "dnf",
	"install_repoquery": "yum", "use_backend": "yum", "list": "yum and dnf", "validate_certs": "yum and dnf",
	"type": "zypper", "extra_args": "zypper and pacman", "oldpackage": "zypper", "replacefiles": "zypper",
	"disable_recommends": "zypper", "force_resolution": "zypper", "extra_args_precommand": "zypper",
	"repository": "apk", "available": "apk", "no_cache": "apk", "world": "apk",
	"update_cache_extra_args": "pacman", "upgrade_extra_args": "pacman", "executable": "pacman", "reason": "pacman", "reason_for": "pacman",
}

func (m *Package) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return m.apt.Apply(ctx, h, d)
}

var (
	_ modules.Module      = (*Package)(nil)
	_ modules.Provisioner = (*Package)(nil)
)
