package generic_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestServiceFactsBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "service_facts", map[string]any{"name": "ssh"}, "unknown argument: name")
}

// On a real host, and against ansible-core's service_facts on the same host:
// the same units with the same name, state, status and source.
func TestServiceFactsHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "systemctl stop cron.service 2>/dev/null; systemctl mask -q --now e2scrub_reap.service 2>/dev/null; true")
	res := r.NoChange(t, "ansible.builtin.service_facts", nil)
	svcs := res["ansible_facts"].(map[string]any)["services"].(map[string]any)
	ssh, _ := svcs["ssh.service"].(map[string]any)
	if ssh["state"] != "running" || ssh["status"] != "enabled" || ssh["source"] != "systemd" || ssh["name"] != "ssh.service" {
		t.Errorf("ssh.service: %v", ssh)
	}
	if len(svcs) < 20 {
		t.Errorf("only %d services: %v", len(svcs), svcs)
	}

	r.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
	res = r.NoChange(t, "service_facts", nil) // python3 adds no service, but read again after apt
	svcs = res["ansible_facts"].(map[string]any)["services"].(map[string]any)
	a := ansibletest.RunOn(t, ansibletest.Target{Addr: r.TH.Addr, Port: r.TH.Port, KeyFile: r.TH.KeyFile, KnownHostsFile: r.TH.KnownHostsFile},
		"ansible.builtin.service_facts", nil, false)
	want, _ := a["ansible_facts"].(map[string]any)["services"].(map[string]any)
	if len(want) == 0 {
		t.Fatalf("ansible: %v", a)
	}
	var diffs []string
	for _, k := range union(want, svcs) {
		g, _ := json.Marshal(svcs[k])
		w, _ := json.Marshal(want[k])
		if string(g) != string(w) {
			diffs = append(diffs, k+": gpuctl "+string(g)+", ansible "+string(w))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%d of %d services differ:\n%s", len(diffs), len(want), strings.Join(diffs, "\n"))
	}
}

func union(a, b map[string]any) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
