package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// On real hosts over SSH: setup in a play without gather_facts fills the
// facts, hostvars carries the other host's, meta reset_connection opens a
// new session that sees a group added to the user, and end_host stops one
// host without failing it.
func TestPseudoModulesOnHosts(t *testing.T) {
	ths := testhosts.Start(t, 2) // skips without the fixture
	inv, err := inventory.Parse("inv.yaml", []byte("all:\n  hosts: {h1: {}, h2: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(t.TempDir(), "pb.yaml")
	os.WriteFile(pbPath, []byte(`- hosts: all
  gather_facts: false
  tasks:
    - setup: {filter: [ansible_hostname, ansible_distribution]}
    - shell: echo $PPID
      register: before
    - meta: reset_connection
    - shell: echo $PPID
      register: after
    - meta: end_host
      when: inventory_hostname == 'h2'
    - shell: >-
        echo "{{ ansible_distribution }} {{ hostvars['h2'].ansible_hostname }}
        {{ before.stdout != after.stdout }}" > /tmp/pseudo
`), 0o644)
	pb, err := (&playbooks.Loader{}).Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	opt := engine.Options{Local: local.New(), Reporter: &recorder{}, Connector: testhostConnector{"h1": ths[0], "h2": ths[1]}}
	recap, err := engine.New(inv, opt).Run(context.Background(), pb)
	if err != nil || recap.Failed() {
		t.Fatalf("err = %v, recap = %+v", err, recap.Hosts)
	}
	if got, want := strings.TrimSpace(ths[0].Run(t, "cat /tmp/pseudo")), "Debian "+ths[1].Name+" True"; got != want {
		t.Errorf("h1 wrote %q, want %q", got, want)
	}
	if out := ths[1].Run(t, "test -e /tmp/pseudo && echo present || echo absent"); strings.TrimSpace(out) != "absent" {
		t.Errorf("h2 ran past end_host")
	}
}
