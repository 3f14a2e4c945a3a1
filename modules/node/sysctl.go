package node

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "sysctl",
		Summary: "Set a kernel parameter in a sysctl file and, by default, in the running kernel (ansible.posix.sysctl)",
		CheckMode: "Reads the sysctl file and /proc/sys and reports the file's unified diff and the running value that " +
			"would change (sysctl -w with sysctl_set, sysctl -p with reload). Changes nothing.",
		Example: `- name: Let the node route pod traffic
  ansible.posix.sysctl:
    name: net.ipv4.ip_forward
    value: "1"
    sysctl_file: /etc/sysctl.d/99-kubernetes.conf
    sysctl_set: true`,
		New: func() modules.Module { return &Sysctl{} },
	})
}

// Sysctl is ansible.posix.sysctl: the file is edited line by line as
// Ansible edits it (every key=value line is rewritten as key=value, later
// duplicates dropped), so a role leaves the same file under either tool.
type Sysctl struct {
	Name         string `yaml:"name" required:"true" aliases:"key" doc:"the dotted key, such as net.ipv4.ip_forward"`
	Value        string `yaml:"value" aliases:"val" doc:"the value; yes/no/true/false become 1/0 as in Ansible; required with state=present"`
	State        string `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the key from sysctl_file (the running value is left alone)"`
	Reload       bool   `yaml:"reload" default:"true" doc:"when anything changed, load sysctl_file into the kernel (sysctl -p FILE)"`
	SysctlSet    bool   `yaml:"sysctl_set" doc:"also set the running value with sysctl -w when it differs"`
	IgnoreErrors bool   `yaml:"ignoreerrors" doc:"ignore unknown keys (sysctl -e); a key the kernel does not have is then left alone"`
	SysctlFile   string `yaml:"sysctl_file" default:"/etc/sysctl.conf" doc:"the file to edit"`
}

// Ansible's sysctl accepts any key the sysctl command does: dotted, with
// a '/' standing for a dot inside one name (net.ipv4.conf.eth0/100.rp_filter).
var sysctlKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_*/:-]+)+$`)

// Provision reads the value as Ansible's _parse_value does.
func (m *Sysctl) Provision() {
	m.Name = strings.TrimSpace(m.Name)
	switch v := strings.TrimSpace(m.Value); strings.ToLower(v) {
	case "y", "yes", "on", "true", "t":
		m.Value = "1"
	case "n", "no", "off", "false", "f":
		m.Value = "0"
	default:
		m.Value = v
	}
}

func (m *Sysctl) Validate() error {
	switch {
	case !sysctlKey.MatchString(m.Name) || strings.Contains(m.Name, ".."):
		return fmt.Errorf("name %q: expected a dotted key such as net.ipv4.ip_forward", m.Name)
	case m.State == "present" && m.Value == "":
		return errors.New("state=present needs a value that is not blank")
	case strings.ContainsAny(m.Value, "\n\r"):
		return fmt.Errorf("value of %s spans several lines", m.Name)
	case !path.IsAbs(m.SysctlFile):
		return fmt.Errorf("sysctl_file %q must be an absolute path", m.SysctlFile)
	}
	return nil
}

func (m *Sysctl) Reads() []string { return []string{m.SysctlFile} }

// procPath is where the kernel shows key: dots are directories, and a '/'
// in a key stands for a dot in a name.
func procPath(key string) string {
	return "/proc/sys/" + strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

func (m *Sysctl) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	// A file that is a link (Debian 13's /etc/sysctl.d/99-sysctl.conf ->
	// ../sysctl.conf) is edited in place.
	fc, err := fileplan.ReadReal(ctx, c, m.SysctlFile)
	if err != nil {
		return plan.Diff{}, err
	}
	file := fc.Path
	fileValue, fixed := m.fixLines(string(fc.Data))
	writeFile := (fileValue == nil && m.State == "present") ||
		(fileValue != nil && (m.State == "absent" || *fileValue != m.Value))

	cur, onProc, err := readFile(ctx, c, procPath(m.Name))
	if err != nil {
		return plan.Diff{}, err
	}
	procValue := normSysctl(string(cur))
	runtimeDiffers := m.State == "present" && (!onProc || procValue != normSysctl(m.Value))
	s := &steps{}
	if runtimeDiffers && !onProc && m.IgnoreErrors {
		// Ansible reports a change on every run here; nothing can set a key
		// the kernel lacks, so say so once instead.
		s.note("%s is not in this kernel (%s missing); ignoreerrors leaves it alone", m.Name, procPath(m.Name))
		runtimeDiffers = false
	}
	reload := m.Reload && (writeFile || runtimeDiffers)
	if writeFile {
		if err := fileStepKeep(ctx, c, s, fc, []byte(fixed)); err != nil {
			return plan.Diff{}, err
		}
	}
	if runtimeDiffers && (reload || m.SysctlSet) {
		before := procValue
		if !onProc {
			before = "(absent)" // net.bridge.* appears once br_netfilter is loaded
		}
		s.add(plan.Change{Resource: "sysctl:" + m.Name, Action: plan.Update, Field: "value", Before: before, After: normSysctl(m.Value)},
			func(ctx context.Context, c conn.Conn) error {
				if !m.SysctlSet || (!onProc && reload) {
					return nil // the reload sets it, as in Ansible
				}
				return sh(ctx, c, m.sysctl("-w", m.Name+"="+m.Value))
			})
	}
	if reload && !s.empty() {
		// The reload has no change of its own: it follows the last step,
		// after the file is written, as Ansible orders them.
		last := &s.list[len(s.list)-1]
		do := last.do
		last.do = func(ctx context.Context, c conn.Conn) error {
			if do != nil {
				if err := do(ctx, c); err != nil {
					return err
				}
			}
			return sh(ctx, c, m.sysctl("-p", file))
		}
	}
	return s.diff(), nil
}

// sysctl is the command line of the sysctl tool, in the C locale whose
// messages Ansible reads.
func (m *Sysctl) sysctl(args ...string) string {
	cmd := "LC_ALL=C sysctl"
	if m.IgnoreErrors {
		cmd += " -e"
	}
	return cmd + " " + conn.Join(args...)
}

// fixLines is Ansible's read_sysctl_file + fix_lines: the key's value in
// the file (nil when absent) and the file as Ansible would write it.
func (m *Sysctl) fixLines(text string) (*string, string) {
	var value *string
	var out strings.Builder
	seen := map[string]bool{}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		k, v, ok := strings.Cut(l, "=")
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") || !ok {
			out.WriteString(l + "\n")
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == m.Name {
			value = &v // the last occurrence wins, as in Ansible's dict
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		switch {
		case k != m.Name:
			out.WriteString(k + "=" + v + "\n")
		case m.State == "present":
			out.WriteString(k + "=" + m.Value + "\n")
		}
	}
	if !seen[m.Name] && m.State == "present" {
		out.WriteString(m.Name + "=" + m.Value + "\n")
	}
	return value, out.String()
}

func (m *Sysctl) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "sysctl", d)
}

var (
	_ modules.Module      = (*Sysctl)(nil)
	_ modules.Provisioner = (*Sysctl)(nil)
	_ modules.Reader      = (*Sysctl)(nil)
)
