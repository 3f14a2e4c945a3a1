package inventory

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// TestMatchesAnsibleInventory loads the inventories in testdata/compare
// with gpuctl and with Debian's ansible-inventory, and compares groups
// (direct hosts and children, in order) and every host's merged variables.
func TestMatchesAnsibleInventory(t *testing.T) {
	bin, err := exec.LookPath("ansible-inventory")
	if err != nil {
		t.Skip("ansible-inventory not installed (apt-get install ansible-core)")
	}
	if testing.Short() {
		t.Skip("runs ansible-inventory; skipped with -short")
	}
	base := filepath.Join("testdata", "compare")
	cases := []struct {
		name     string
		sources  []string
		playbook string
	}{
		{"ini with group_vars", []string{"ini/hosts.ini"}, ""},
		{"ini with playbook group_vars", []string{"ini/hosts.ini"}, "playbook"},
		{"directory", []string{"dir"}, ""},
		{"yaml", []string{"yaml/hosts.yml"}, ""},
		{"several -i", []string{"ini/hosts.ini", "yaml/hosts.yml", "dir"}, "playbook"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{}
			args := []string{"--list"}
			for _, s := range c.sources {
				opt.Sources = append(opt.Sources, filepath.Join(base, s))
				args = append(args, "-i", filepath.Join(base, s))
			}
			if c.playbook != "" {
				opt.PlaybookDir = filepath.Join(base, c.playbook)
				args = append(args, "--playbook-dir", opt.PlaybookDir)
			}
			want := ansibleList(t, bin, args)
			inv, err := Open(opt)
			if err != nil {
				t.Fatal(err)
			}
			compareGroups(t, inv, want)
			compareHostVars(t, inv, want)
		})
	}
}

type ansibleGroup struct {
	Hosts    []string `json:"hosts"`
	Children []string `json:"children"`
}

type ansibleOutput struct {
	groups   map[string]ansibleGroup
	hostvars map[string]map[string]any
}

func ansibleList(t *testing.T, bin string, args []string) ansibleOutput {
	t.Helper()
	cmd := exec.Command(bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_CONFIG="+filepath.Join(home, "none.cfg"),
		"ANSIBLE_LOCAL_TEMP="+home, "ANSIBLE_INVENTORY_UNPARSED_FAILED=true")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible-inventory %v: %v\n%s", args, err, out)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	res := ansibleOutput{groups: map[string]ansibleGroup{}}
	for k, v := range raw {
		if k == "_meta" {
			var meta struct {
				Hostvars map[string]map[string]any `json:"hostvars"`
			}
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			res.hostvars = meta.Hostvars
			continue
		}
		var g ansibleGroup
		if err := json.Unmarshal(v, &g); err != nil {
			t.Fatal(err)
		}
		res.groups[k] = g
	}
	return res
}

func compareGroups(t *testing.T, inv *Inventory, want ansibleOutput) {
	t.Helper()
	for name, wg := range want.groups {
		got := ansibleGroup{Children: inv.Children(name)}
		if name != "all" {
			got.Hosts = inv.DirectHosts(name)
		}
		if len(got.Hosts) == 0 {
			got.Hosts = nil
		}
		if len(got.Children) == 0 {
			got.Children = nil
		}
		if !reflect.DeepEqual(got, wg) {
			t.Errorf("group %s: gpuctl %+v, ansible %+v", name, got, wg)
		}
	}
	for _, name := range inv.GroupNames() {
		_, listed := want.groups[name]
		if !listed && (len(inv.DirectHosts(name)) > 0 || len(inv.Children(name)) > 0) {
			t.Errorf("group %s: gpuctl has it with members, ansible does not", name)
		}
	}
}

func compareHostVars(t *testing.T, inv *Inventory, want ansibleOutput) {
	t.Helper()
	var names []string
	for _, h := range inv.Hosts() {
		names = append(names, h.Name)
		got := jsonRoundTrip(t, h.Vars)
		delete(got, "inventory_file")
		delete(got, "inventory_dir")
		w := want.hostvars[h.Name]
		if w == nil {
			w = map[string]any{}
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("host %s vars:\n gpuctl  %v\n ansible %v", h.Name, got, w)
		}
	}
	for name := range want.hostvars {
		if !slices.Contains(names, name) {
			t.Errorf("host %s: in ansible's inventory, not in gpuctl's", name)
		}
	}
}

func jsonRoundTrip(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
