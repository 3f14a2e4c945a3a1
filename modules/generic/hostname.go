package generic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "hostname",
		Summary: "Set the host name (ansible.builtin.hostname)",
		CheckMode: "Reads /etc/hostname and /proc/sys/kernel/hostname and reports the name that would change. " +
			"Changes nothing.",
		Example: `- name: Name the node after its inventory entry
  ansible.builtin.hostname:
    name: "{{ inventory_hostname }}"
    use: systemd`,
		New: func() modules.Module { return &Hostname{} },
	})
}

// Hostname is ansible.builtin.hostname with the strategies a Debian or
// Ubuntu host takes: by default Ansible's file strategy there (only
// /etc/hostname is written; the running name changes at the next boot),
// systemd (and its alias debian) through hostnamectl, which changes both.
// generic sets only the running name: Ansible's base strategy fails on
// every host.
type Hostname struct {
	Name string `yaml:"name" required:"true" doc:"the host name"`
	Use  string `yaml:"use" choices:"alpine,debian,freebsd,generic,macos,macosx,darwin,openbsd,openrc,redhat,sles,solaris,systemd" doc:"how to set it; without it, Debian and Ubuntu write /etc/hostname as Ansible does"`

	before string
}

// hostLabel is what hostnamectl accepts as a static name: dot-separated
// labels of letters, digits and inner hyphens.
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?$`)

func (m *Hostname) Validate() error {
	if len(m.Name) > 64 {
		return fmt.Errorf("name %q is longer than 64 characters", m.Name)
	}
	for _, l := range strings.Split(m.Name, ".") {
		if !hostLabel.MatchString(l) {
			return fmt.Errorf("name %q: expected letters, digits and hyphens in dot-separated labels", m.Name)
		}
	}
	return nil
}

func (m *Hostname) Reads() []string { return []string{"/etc/hostname"} }

func (m *Hostname) Result() map[string]any { return map[string]any{"name": m.Name} }

// SetFacts updates what later tasks read, as Ansible's module returns them.
func (m *Hostname) SetFacts() map[string]any {
	short, domain, _ := strings.Cut(m.Name, ".")
	return map[string]any{"ansible_hostname": short, "ansible_nodename": m.Name, "ansible_fqdn": m.Name, "ansible_domain": domain}
}

func (m *Hostname) strategy() string {
	switch m.Use {
	case "", "systemd", "generic":
		return m.Use
	case "debian":
		return "systemd" // Ansible maps use=debian to hostnamectl
	}
	return "other"
}

func (m *Hostname) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	st := m.strategy()
	if st == "other" {
		return plan.Diff{}, fmt.Errorf("hostname: use=%s is another OS family's way; on this host use systemd, debian, generic or leave use out", m.Use)
	}
	var d plan.Diff
	var cmds []string
	if st != "generic" {
		perm, _, _, err := readFile(ctx, h, "/etc/hostname")
		if err != nil {
			return d, err
		}
		if p := strings.TrimSpace(string(perm)); p != m.Name {
			d.Add(plan.Change{Resource: "file:/etc/hostname", Action: plan.Update, Field: "hostname", Before: p, After: m.Name})
			m.before = p
			if st == "systemd" {
				cmds = append(cmds, conn.Join("hostnamectl", "--pretty", "--static", "set-hostname", m.Name))
			}
		}
	}
	if st != "" {
		cur, err := h.Conn().ReadFile(ctx, "/proc/sys/kernel/hostname")
		if err != nil {
			return d, fmt.Errorf("read the running host name: %w", err)
		}
		if c := strings.TrimSpace(string(cur)); c != m.Name {
			d.Add(plan.Change{Resource: "hostname", Action: plan.Update, Field: "running", Before: c, After: m.Name})
			if st == "systemd" {
				cmds = append(cmds, conn.Join("hostnamectl", "--transient", "set-hostname", m.Name))
			} else {
				cmds = append(cmds, conn.Join("hostname", m.Name))
			}
		}
	}
	d.State = &accountOp{cmds: cmds}
	return d, nil
}

func (m *Hostname) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*accountOp](h, "hostname", d)
	if err != nil {
		return err
	}
	if m.strategy() == "" {
		// Ansible's file strategy: the name and a newline, nothing else.
		if err := h.Conn().WriteFile(ctx, "/etc/hostname", []byte(m.Name+"\n"), conn.FileAttrs{Mode: 0o644}); err != nil {
			return fmt.Errorf("hostname: write /etc/hostname: %w", err)
		}
		return nil
	}
	if err := op.run(ctx, h); err != nil {
		var ee *conn.ExitError
		if errors.As(err, &ee) && strings.Contains(ee.Result.Stderr, "Operation not permitted") {
			return fmt.Errorf("hostname: %w (a container without CAP_SYS_ADMIN cannot rename itself; set the name from its host)", err)
		}
		return fmt.Errorf("hostname: %w", err)
	}
	return nil
}

var (
	_ modules.Module     = (*Hostname)(nil)
	_ modules.Resulter   = (*Hostname)(nil)
	_ modules.FactSetter = (*Hostname)(nil)
	_ modules.Reader     = (*Hostname)(nil)
)
