package generic

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "service_facts",
		Summary: "Set ansible_facts.services: every service the host knows, with its state and status (ansible.builtin.service_facts)",
		CheckMode: "Reads only (service --status-all, systemctl list-units and list-unit-files); " +
			"it runs under --check as in a real run, so later tasks can test the services.",
		Example: `- name: Which services are there
  ansible.builtin.service_facts:
- name: Stop the old agent when it is installed
  service: {name: zabbix-agent, state: stopped}
  when: ansible_facts.services["zabbix-agent.service"] is defined`,
		New: func() modules.Module { return &ServiceFacts{} },
	})
}

// ServiceFacts is ansible.builtin.service_facts on a Debian host: the SysV
// scripts that `service --status-all` lists (source sysv) and the systemd
// services (source systemd), parsed as Ansible parses them, so
// ansible_facts.services has the same keys and values under either tool.
type ServiceFacts struct {
	services map[string]any
}

func (m *ServiceFacts) Validate() error { return nil }

// serviceFactsScript reads everything in one process. Ansible asks
// systemctl show for the ActiveState of each unit file that list-units did
// not list; the script does that for every unit file on the host itself, as
// one batch, and the parser keeps only the states Ansible would have asked.
// The locale is Ansible's choice for parsing (C.UTF-8).
const serviceFactsScript = `export LC_ALL=C.UTF-8 LANG=C.UTF-8
sep() { echo '@@gpuctl-service-facts@@'; }
if command -v service >/dev/null && ! command -v chkconfig >/dev/null && ! command -v rc-status >/dev/null; then
	service --status-all 2>/dev/null
fi
sep
grep -qs systemd /proc/1/comm || exit 0
command -v systemctl >/dev/null || exit 0
systemctl list-units --no-pager --type service --all 2>/dev/null || echo "@@rc=$?"
sep
files=$(systemctl list-unit-files --no-pager --type service --all 2>/dev/null) || echo "@@rc=$?"
printf '%s\n' "$files"
sep
printf '%s\n' "$files" | awk '/\.service/ {print $1}' | while read -r n; do
	out=$(systemctl show "$n" --property=ActiveState 2>/dev/null)
	printf '%s\t%s\t%s\n' "$n" "$?" "$out"
done
`

func (m *ServiceFacts) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	r, err := h.Conn().Run(ctx, serviceFactsScript)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("service_facts: %w", err)
	}
	if !r.OK() {
		return plan.Diff{}, fmt.Errorf("service_facts: %w", &conn.ExitError{Cmd: "service_facts script", Result: r})
	}
	svcs, err := parseServiceFacts(r.Stdout)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("service_facts: %w", err)
	}
	m.services = svcs
	return plan.Diff{}, nil
}

// Apply is never called: Check never finds anything to change.
func (m *ServiceFacts) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func (m *ServiceFacts) SetFacts() map[string]any {
	return map[string]any{"ansible_facts": map[string]any{"services": m.services}}
}

func (m *ServiceFacts) Result() map[string]any {
	return map[string]any{"ansible_facts": map[string]any{"services": m.services}}
}

// Skip is Ansible's answer when the host lists no service at all.
func (m *ServiceFacts) Skip() string {
	if len(m.services) == 0 {
		return "Failed to find any services. This can be due to privileges or some other configuration issue."
	}
	return ""
}

var sysvStatus = regexp.MustCompile(`(?m)^\s*\[ (\+|-) \]\s+(.+)$`)

// badUnitStates are the states Ansible's parser takes as the status that
// shifts the line by one field (the bullet systemctl prints before them).
var badUnitStates = []string{"not-found", "masked", "failed"}

// parseServiceFacts parses serviceFactsScript's output: SysV status lines,
// list-units, list-unit-files and the ActiveState of each unit file, in
// the order and with the quirks of Ansible's service_facts.
func parseServiceFacts(out string) (map[string]any, error) {
	parts := strings.Split(out, "@@gpuctl-service-facts@@\n")
	svcs := map[string]any{}
	for _, mt := range sysvStatus.FindAllStringSubmatch(parts[0], -1) {
		state := "stopped"
		if mt[1] == "+" {
			state = "running"
		}
		name := strings.TrimRight(mt[2], "\r")
		svcs[name] = map[string]any{"name": name, "state": state, "source": "sysv"}
	}
	if len(parts) < 4 {
		return svcs, nil // not systemd
	}
	units, files, shows := parts[1], parts[2], parts[3]
	if !strings.HasPrefix(units, "@@rc=") {
		for _, line := range strings.Split(units, "\n") {
			if !strings.Contains(line, ".service") {
				continue
			}
			fields := strings.Fields(line)
			status, state := "", "stopped"
			for _, bad := range badUnitStates {
				if slices.Contains(fields, bad) {
					status, fields = bad, fields[1:]
					break
				}
			}
			if len(fields) < 4 {
				return nil, fmt.Errorf("malformed output from systemctl list-units: %q", line)
			}
			if status == "" {
				status = fields[2]
			}
			if fields[3] == "running" {
				state = "running"
			}
			svcs[fields[0]] = map[string]any{"name": fields[0], "state": state, "status": status, "source": "systemd"}
		}
	}
	if strings.HasPrefix(files, "@@rc=") {
		return svcs, nil
	}
	active := map[string]string{}
	for _, line := range strings.Split(shows, "\n") {
		name, rest, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		rc, stdout, _ := strings.Cut(rest, "\t")
		state := "unknown"
		if n, err := strconv.Atoi(rc); err == nil && n == 0 && stdout != "" {
			state = strings.TrimRight(strings.Replace(stdout, "ActiveState=", "", 1), " \t\r\n")
		}
		active[name] = state
	}
	for _, line := range strings.Split(files, "\n") {
		if !strings.Contains(line, ".service") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("malformed output discovered from systemd list-unit-files: %s", line)
		}
		name, status := fields[0], fields[1]
		cur, ok := svcs[name].(map[string]any)
		switch {
		case !ok:
			state, ok := active[name]
			if !ok {
				state = "unknown"
			}
			svcs[name] = map[string]any{"name": name, "state": state, "status": status, "source": "systemd"}
		default:
			if st, _ := cur["status"].(string); !slices.Contains(badUnitStates, st) {
				cur["status"] = status
			}
		}
	}
	return svcs, nil
}

var (
	_ modules.Module     = (*ServiceFacts)(nil)
	_ modules.FactSetter = (*ServiceFacts)(nil)
	_ modules.Resulter   = (*ServiceFacts)(nil)
	_ modules.Skipper    = (*ServiceFacts)(nil)
)
