package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// testhostConnector dials the real test host an inventory name stands for.
type testhostConnector map[string]testhosts.Host

func (c testhostConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	th, ok := c[h.Name]
	if !ok {
		return nil, fmt.Errorf("no test host %s", h.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ssh.Dial(ctx, ssh.Config{Host: th.Addr, Port: th.Port, User: testhosts.UserRoot, KeyFiles: []string{th.KeyFile},
		NoAgent: true, KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true})
}

// TestDelegateToRunsOnTheDelegate: a task of host node1 delegated to
// groups['masters'][0] runs over the master's connection (the file appears
// there, with the master's hostname) and sees node1's variables; with
// delegate_facts the fact it sets belongs to the master.
func TestDelegateToRunsOnTheDelegate(t *testing.T) {
	ths := testhosts.Start(t, 2) // skips without the fixture
	inv, err := inventory.Parse("inv.yaml", []byte("all:\n  children:\n    masters: {hosts: {master: {}}}\n    nodes: {hosts: {node1: {who: from-node1}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pbPath := filepath.Join(dir, "pb.yaml")
	os.WriteFile(pbPath, []byte(`- hosts: nodes
  gather_facts: false
  tasks:
    - name: on the master, for node1
      shell: echo "{{ inventory_hostname }} {{ who }} $(hostname)" > /tmp/delegated
      delegate_to: "{{ groups['masters'][0] }}"
    - name: a fact for the master
      set_fact: {joined_by: "{{ inventory_hostname }}"}
      delegate_to: master
      delegate_facts: true
- hosts: masters
  gather_facts: false
  tasks:
    - shell: echo "{{ joined_by }}" > /tmp/fact
`), 0o644)
	pb, err := (&playbooks.Loader{}).Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	opt := engine.Options{Local: local.New(), Reporter: &recorder{}, Connector: testhostConnector{"master": ths[0], "node1": ths[1]}}
	if _, err := engine.New(inv, opt).Run(context.Background(), pb); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(ths[0].Run(t, "cat /tmp/delegated"))
	if want := "node1 from-node1 " + ths[0].Name; got != want {
		t.Errorf("on the delegate: %q, want %q", got, want)
	}
	if got := strings.TrimSpace(ths[0].Run(t, "cat /tmp/fact")); got != "node1" {
		t.Errorf("delegate_facts: master sees joined_by=%q, want node1", got)
	}
	if out := ths[1].Run(t, "test -e /tmp/delegated && echo present || echo absent"); strings.TrimSpace(out) != "absent" {
		t.Errorf("the task also ran on node1")
	}
}
