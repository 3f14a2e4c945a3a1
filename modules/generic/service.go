package generic

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "service",
		Aliases: []string{"systemd", "systemd_service"},
		Summary: "Start, stop, restart, enable, mask a systemd unit; reload systemd; read a unit's status",
		CheckMode: "Reads every property of the unit with systemctl show (registered as status, as Ansible's " +
			"systemd module registers it) and reports each field that would change (restarted/reloaded always " +
			"report). With only name it reads the status and changes nothing. A unit that does not exist yet " +
			"is reported as known after apply.",
		Example: `- name: containerd runs now and at boot
  service:
    name: containerd
    state: started
    enabled: true
    daemon_reload: true
- name: Where is docker's unit file
  ansible.builtin.systemd_service:
    name: docker
  register: docker_service   # docker_service.status.FragmentPath, .ExecStart, ...`,
		New: func() modules.Module { return &Service{} },
	})
}

// Service manages a systemd unit. Hosts without systemd are not supported.
type Service struct {
	Name         string `yaml:"name" aliases:"service,unit" doc:"unit name; without a suffix, .service is meant (required unless daemon_reload or daemon_reexec); alone, the task only registers the unit's status"`
	State        string `yaml:"state" choices:"started,stopped,restarted,reloaded" doc:"started/stopped are kept; restarted and reloaded act on every run (reloaded starts a stopped unit)"`
	Enabled      *bool  `yaml:"enabled" doc:"start at boot (systemctl enable) or not; static units are left alone"`
	Masked       *bool  `yaml:"masked" doc:"mask the unit so nothing can start it, or unmask it"`
	DaemonReload bool   `yaml:"daemon_reload" aliases:"daemon-reload" doc:"run systemctl daemon-reload first when unit files changed on disk (the unit's, or without name any loaded unit's)"`
	DaemonReexec bool   `yaml:"daemon_reexec" aliases:"daemon-reexec" doc:"run systemctl daemon-reexec first (on every run, as in Ansible)"`
	Use          string `yaml:"use" choices:"auto,systemd,service,sysvinit" doc:"Ansible's backend choice; gpuctl manages every unit through systemd, where SysV scripts are units too, so each accepted value acts the same"`

	unit   string
	status unitStatus // systemctl show, before any change (Ansible's status)
}

func (m *Service) Validate() error {
	if m.Name == "" && m.State == "" && m.Enabled == nil && m.Masked == nil && !m.DaemonReload && !m.DaemonReexec {
		return errors.New("give at least one of state, enabled, masked, daemon_reload or daemon_reexec, or a name to read the unit's status")
	}
	if m.Name == "" {
		if m.State != "" || m.Enabled != nil || m.Masked != nil {
			return errors.New(`missing required argument "name" (state, enabled and masked act on a unit)`)
		}
		return nil
	}
	if strings.ContainsAny(m.Name, "*?[") {
		return fmt.Errorf("name %q: glob patterns are not supported (as in Ansible); name one unit", m.Name)
	}
	if strings.ContainsAny(m.Name, " \t\n/'\"") {
		return fmt.Errorf("name %q is not a unit name", m.Name)
	}
	if m.Masked != nil && *m.Masked && (m.State == "started" || m.State == "restarted" || m.State == "reloaded") {
		return fmt.Errorf("a masked unit cannot be %s", m.State)
	}
	if m.Masked != nil && *m.Masked && m.Enabled != nil && *m.Enabled {
		return errors.New("a masked unit cannot be enabled")
	}
	m.unit = m.Name
	if !strings.Contains(m.unit, ".") {
		m.unit += ".service"
	}
	return nil
}

func (m *Service) Unverified() bool {
	return m.State == "restarted" || m.State == "reloaded" || m.DaemonReexec
}

// unitStatus is what systemctl show reports.
type unitStatus map[string]string

func (s unitStatus) running() bool {
	return s["ActiveState"] == "active" || s["ActiveState"] == "activating" || s["ActiveState"] == "reloading"
}

// parseSystemctlShow reads `systemctl show UNIT` as Ansible's systemd
// module does: key=value lines, where only an Exec* value that starts
// with '{' may run on over lines until one ends with '}'.
func parseSystemctlShow(out string) unitStatus {
	s := unitStatus{}
	var key string
	var multi []string
	for _, l := range strings.Split(out, "\n") {
		if key != "" {
			multi = append(multi, l)
			if strings.HasSuffix(strings.TrimRight(l, " \t\r"), "}") {
				s[key], key, multi = strings.TrimSpace(strings.Join(multi, "\n")), "", nil
			}
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "Exec") && strings.HasPrefix(strings.TrimLeft(v, " \t"), "{") &&
			!strings.HasSuffix(strings.TrimRight(v, " \t\r"), "}") {
			key, multi = k, []string{v}
			continue
		}
		s[k] = strings.TrimSpace(v)
	}
	return s
}

// Result is what Ansible's systemd module registers: the unit's name, its
// status (every systemctl show property, as read before any change), and
// the enabled and state asked for (restarted and reloaded leave the unit
// started).
func (m *Service) Result() map[string]any {
	st := map[string]any{}
	for k, v := range m.status {
		st[k] = v
	}
	res := map[string]any{"name": nil, "status": st}
	if m.Name != "" {
		res["name"] = m.Name
	}
	if m.Enabled != nil {
		res["enabled"] = *m.Enabled
	}
	switch m.State {
	case "":
	case "restarted", "reloaded":
		res["state"] = "started"
	default:
		res["state"] = m.State
	}
	return res
}

func parseShow(out string) unitStatus {
	s := unitStatus{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			s[k] = strings.TrimSpace(v)
		}
	}
	return s
}

// serviceOp lists the systemctl calls Apply makes, in Ansible's order.
// recheck is set when the unit only appears after daemon-reload, so the
// rest can only be decided then.
type serviceOp struct {
	cmds    [][]string
	recheck bool
}

func (m *Service) Check(ctx context.Context, h modules.Host) (d plan.Diff, err error) {
	if m.Name == "" {
		return m.checkManager(ctx, h)
	}
	res := "service:" + m.Name
	if m.DaemonReexec {
		defer func() {
			if err == nil {
				d = reexecFirst(d)
			}
		}()
	}
	// Every property, as Ansible's systemd module reads them: they are the
	// registered status (status.ExecStart, status.FragmentPath).
	out, err := conn.Output(ctx, h.Conn(), conn.Join("systemctl", "show", m.unit, "--no-pager"))
	if err != nil {
		return d, fmt.Errorf("service %s: %w", m.Name, err)
	}
	st := parseSystemctlShow(out)
	if m.status == nil {
		// The engine checks the same value again after Apply; the
		// registered status stays the one read before the change.
		m.status = st
	}
	op := &serviceOp{}
	d.State = op
	if ls := st["LoadState"]; ls != "not-found" && ls != "masked" && st["LoadError"] != "" {
		return d, fmt.Errorf("Error loading unit file '%s': %s", m.Name, st["LoadError"])
	}
	if m.State == "" && m.Enabled == nil && m.Masked == nil && !m.DaemonReload {
		return d, nil // only the status was asked for
	}
	if st["LoadState"] == "not-found" && st["UnitFileState"] == "" {
		if m.DaemonReload {
			// daemon-reload may be what makes a new unit file visible.
			op.cmds, op.recheck = append(op.cmds, []string{"daemon-reload"}), true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "daemon_reload", Before: "unit not loaded", After: "reloaded"})
			d.Unknown = fmt.Sprintf("unit %s does not exist yet; known after apply", m.unit)
			return d, nil
		}
		// An earlier task may be installing the unit: known after apply
		// under --check, a failure in a real run.
		return d, modules.NotYet("service %s: unit %s not found (known after apply)", m.Name, m.unit)
	}
	if m.DaemonReload && st["NeedDaemonReload"] == "yes" {
		op.cmds = append(op.cmds, []string{"daemon-reload"})
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "daemon_reload", Before: "unit files changed on disk", After: "reloaded"})
	}
	ufs := st["UnitFileState"]
	masked := strings.HasPrefix(ufs, "masked")
	if m.Masked != nil && *m.Masked != masked {
		verb := "unmask"
		if *m.Masked {
			verb = "mask"
		}
		op.cmds = append(op.cmds, []string{verb, m.unit})
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "masked", Before: strconv.FormatBool(masked), After: strconv.FormatBool(*m.Masked)})
		masked = *m.Masked
	}
	if m.Enabled != nil && !masked {
		switch ufs {
		case "static", "indirect", "generated", "transient", "alias":
			d.Note(fmt.Sprintf("%s is %s: it cannot be enabled or disabled", m.unit, ufs))
		default:
			enabled := ufs == "enabled" || ufs == "enabled-runtime"
			if enabled != *m.Enabled {
				verb := "disable"
				if *m.Enabled {
					verb = "enable"
				}
				op.cmds = append(op.cmds, []string{verb, m.unit})
				d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "enabled", Before: strconv.FormatBool(enabled), After: strconv.FormatBool(*m.Enabled)})
			}
		}
	}
	active := st["ActiveState"]
	switch m.State {
	case "started":
		if !st.running() {
			op.cmds = append(op.cmds, []string{"start", m.unit})
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "state", Before: active, After: "active"})
		}
	case "stopped":
		if st.running() {
			op.cmds = append(op.cmds, []string{"stop", m.unit})
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "state", Before: active, After: "inactive"})
		}
	case "restarted", "reloaded":
		verb := strings.TrimSuffix(m.State, "ed")
		if !st.running() {
			verb = "start"
		}
		op.cmds = append(op.cmds, []string{verb, m.unit})
		d.Add(plan.Change{Resource: res, Action: plan.Run, Field: "state", Before: active, After: m.State})
	}
	return d, nil
}

func (m *Service) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*serviceOp](h, "service", d)
	if err != nil {
		return err
	}
	for _, c := range op.cmds {
		if err := run(ctx, h, conn.Join(append([]string{"systemctl"}, c...)...)); err != nil {
			return fmt.Errorf("service %s: %w", m.Name, err)
		}
	}
	if op.recheck {
		d2, err := m.Check(ctx, h)
		if err != nil {
			return err
		}
		op2, _ := d2.State.(*serviceOp)
		if op2 == nil || op2.recheck {
			return fmt.Errorf("service %s: unit %s not found, even after daemon-reload", m.Name, m.unit)
		}
		if len(op2.cmds) > 0 {
			return m.Apply(ctx, h, d2)
		}
	}
	return nil
}

// checkManager is the task without a unit: systemd itself is reloaded when
// a loaded unit's files changed on disk, and re-executed when asked.
func (m *Service) checkManager(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	op := &serviceOp{}
	d.State = op
	if m.DaemonReload {
		out, err := conn.Output(ctx, h.Conn(), "systemctl show --no-pager --property=Id,NeedDaemonReload '*'")
		if err != nil {
			return d, fmt.Errorf("systemd: %w", err)
		}
		var stale []string
		for _, block := range strings.Split(out, "\n\n") {
			if st := parseShow(block); st["NeedDaemonReload"] == "yes" {
				stale = append(stale, st["Id"])
			}
		}
		if len(stale) > 0 {
			op.cmds = append(op.cmds, []string{"daemon-reload"})
			d.Add(plan.Change{Resource: "service:systemd", Action: plan.Update, Field: "daemon_reload",
				Before: "unit files changed on disk: " + strings.Join(stale, ", "), After: "reloaded"})
		}
	}
	if m.DaemonReexec {
		d = reexecFirst(d)
	}
	return d, nil
}

// reexecFirst puts daemon-reexec before the diff's other commands.
func reexecFirst(d plan.Diff) plan.Diff {
	op, _ := d.State.(*serviceOp)
	if op == nil {
		return d
	}
	op.cmds = append([][]string{{"daemon-reexec"}}, op.cmds...)
	d.Add(plan.Change{Resource: "service:systemd", Action: plan.Run, Field: "daemon_reexec", After: "systemctl daemon-reexec"})
	return d
}

var (
	_ modules.Module     = (*Service)(nil)
	_ modules.Unverified = (*Service)(nil)
	_ modules.Resulter   = (*Service)(nil)
)
