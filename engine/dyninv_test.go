package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// TestDynamicInventoryLikeAnsible runs testdata/dyninv/dyn.yml: group_by
// (templated key, parents, group_vars of the new groups), add_host (once
// for the play, in a loop, with a port and variables, host_vars of the new
// host) and the inventory_hostnames lookup; later plays target the new
// groups. What every host wrote is compared with what ansible-core 2.14
// wrote, in a real run and under --check, where both act the same.
func TestDynamicInventoryLikeAnsible(t *testing.T) {
	for _, tc := range []struct {
		check bool
		want  string
	}{{false, "testdata/dyninv/expected-ansible"}, {true, "testdata/dyninv/expected-ansible-check"}} {
		out := t.TempDir()
		inv, err := inventory.Open(inventory.Options{Sources: []string{"testdata/dyninv/inv.ini"}})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := (&playbooks.Loader{}).Load("testdata/dyninv/dyn.yml")
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		opt := engine.Options{Local: local.New(), Check: tc.check, ExtraVars: map[string]any{"out_dir": out}, Reporter: rec}
		recap, err := engine.New(inv, opt).Run(context.Background(), pb)
		if err != nil {
			t.Fatalf("check=%v: %v", tc.check, err)
		}
		compareDirs(t, tc.want, out)
		// As in Ansible: the first group_by of each host changes, the
		// second does not; add_host counts once, on the first host.
		want := map[string]int{"w1": 1 + 1 + 1 + 1, "w2": 1 + 1, "d1": 1 + 1}
		for h, n := range want {
			if c := recap.Hosts[h]; c == nil || c.Changed < n {
				t.Errorf("check=%v: %s changed %+v, want at least %d", tc.check, h, c, n)
			}
		}
		for _, ev := range rec.events {
			if ev.Type == engine.EventTaskResult && strings.HasPrefix(ev.Task, "add a host") && ev.Host != "w1" {
				t.Errorf("add_host ran on %s too", ev.Host)
			}
		}
	}
}

// The arguments are checked when the playbook loads, before any host is
// touched.
func TestDynamicInventoryBadArgs(t *testing.T) {
	for _, tc := range []struct{ task, want string }{
		{"group_by: {parents: [x]}", `"key"`},
		{"group_by: {key: a, nope: 1}", "nope"},
		{"add_host: {groups: [x]}", "name, host or hostname"},
		{"add_host: {name: a, groups: {x: 1}}", "groups"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "pb.yml")
		if err := os.WriteFile(p, []byte("- hosts: all\n  tasks:\n    - "+tc.task+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := (&playbooks.Loader{}).Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.task, err, tc.want)
		}
	}
}

// group_by of every host at once, with later tasks reading groups and
// hostvars while others still change them: run with -race.
func TestGroupByParallel(t *testing.T) {
	inv := "all:\n  hosts:\n"
	for _, n := range []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"} {
		inv += "    " + n + ": {ansible_connection: local}\n"
	}
	pb := `
- hosts: all
  gather_facts: false
  strategy: free
  tasks:
    - group_by: {key: "g{{ inventory_hostname[-1] | int % 2 }}", parents: [both]}
    - add_host: {name: "x{{ inventory_hostname }}", groups: late}
    - assert:
        that:
          - inventory_hostname in groups['g' ~ (inventory_hostname[-1] | int % 2)]
          - hostvars | length >= 8
          - query('inventory_hostnames', 'both') | length >= 1
- hosts: both
  gather_facts: false
  tasks:
    - assert:
        that:
          - groups['both'] | length == 8
          - groups['late'] | length == 1
          - ansible_play_hosts_all | length == 8
`
	runInv(t, inv, pb, engine.Options{Forks: 8})
}
