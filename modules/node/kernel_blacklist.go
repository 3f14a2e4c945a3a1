package node

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "kernel_blacklist",
		Summary:   "Keep a kernel module from loading automatically with a blacklist line in modprobe.d (community.general.kernel_blacklist)",
		CheckMode: "Reads blacklist_file and reports its unified diff. Changes nothing.",
		Example: `- name: nouveau must not claim the GPU
  community.general.kernel_blacklist:
    name: nouveau
    blacklist_file: /etc/modprobe.d/blacklist-nouveau.conf`,
		New: func() modules.Module { return &KernelBlacklist{} },
	})
}

// KernelBlacklist is community.general.kernel_blacklist: one
// "blacklist NAME" line, appended or removed.
type KernelBlacklist struct {
	Name          string `yaml:"name" required:"true" doc:"the kernel module"`
	State         string `yaml:"state" default:"present" choices:"present,absent" doc:"whether the blacklist line is there"`
	BlacklistFile string `yaml:"blacklist_file" default:"/etc/modprobe.d/blacklist-ansible.conf" doc:"the modprobe.d file to edit"`

	re *regexp.Regexp
}

func (m *KernelBlacklist) Validate() error {
	if !kmodName.MatchString(m.Name) {
		return fmt.Errorf("name %q: not a kernel module name", m.Name)
	}
	if !path.IsAbs(m.BlacklistFile) {
		return fmt.Errorf("blacklist_file %q must be an absolute path", m.BlacklistFile)
	}
	m.re = regexp.MustCompile(`^blacklist\s+` + regexp.QuoteMeta(m.Name) + `$`)
	return nil
}

func (m *KernelBlacklist) Reads() []string { return []string{m.BlacklistFile} }

func (m *KernelBlacklist) Result() map[string]any {
	return map[string]any{"name": m.Name, "state": m.State}
}

func (m *KernelBlacklist) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	old, exists, err := readFile(ctx, h.Conn(), m.BlacklistFile)
	if err != nil {
		return plan.Diff{}, err
	}
	var lines []string
	blocked := false
	for _, l := range strings.SplitAfter(string(old), "\n") {
		if l == "" {
			continue
		}
		l = strings.TrimRight(l, " \t\r\n")
		s := strings.TrimSpace(l)
		if !strings.HasPrefix(s, "#") && m.re.MatchString(s) {
			blocked = true
			if m.State == "absent" {
				continue
			}
		}
		lines = append(lines, l)
	}
	s := &steps{}
	if blocked == (m.State == "present") || (!exists && m.State == "absent") {
		return s.diff(), nil
	}
	if m.State == "present" {
		lines = append(lines, "blacklist "+m.Name)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := fileStep(ctx, h.Conn(), s, m.BlacklistFile, []byte(b.String()), 0o644, false); err != nil {
		return plan.Diff{}, err
	}
	return s.diff(), nil
}

func (m *KernelBlacklist) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "kernel_blacklist", d)
}

var (
	_ modules.Module   = (*KernelBlacklist)(nil)
	_ modules.Reader   = (*KernelBlacklist)(nil)
	_ modules.Resulter = (*KernelBlacklist)(nil)
)
