package engine_test

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
)

// A variable whose template reads hostvars (block vars, as community.sops's
// install role: `{{ hostvars['localhost' if ... else inventory_hostname].ansible_facts }}`)
// resolves to the other host's value, not to its own text.
func TestVariableReadsHostvars(t *testing.T) {
	_, rec, err := run(t, `
- hosts: a
  gather_facts: false
  tasks:
    - set_fact: {arch: x86_64}
- hosts: b
  gather_facts: false
  tasks:
    - vars:
        other: "{{ hostvars['a' if true else inventory_hostname] }}"
      block:
        - etest_echo: {msg: "{{ other.arch }}"}
`, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range rec.events {
		if e.Type == engine.EventTaskResult && e.Task == "etest_echo" {
			msgs = append(msgs, e.Host+" "+string(e.Status)+" "+e.Msg)
		}
	}
	if got := strings.Join(msgs, "\n"); got != "b ok x86_64" {
		t.Errorf("results:\n%s", got)
	}
}
