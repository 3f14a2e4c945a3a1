package engine_test

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
)

// A pattern that merely contains the word "localhost" must not add an
// implicit localhost to the inventory: a later glob such as `hosts: "*host*"` would then run
// on the controller too.
func TestPatternContainingLocalhostAddsNoHost(t *testing.T) {
	inv := `
all:
  children:
    localhost_workers:
      hosts:
        w1: {ansible_connection: local}
`
	pb := `
- hosts: localhost_workers
  gather_facts: false
  tasks:
    - etest_echo: {msg: "first {{ inventory_hostname }}"}
- hosts: "*host*"
  gather_facts: false
  tasks:
    - etest_echo: {msg: "second {{ inventory_hostname }}"}
`
	out := runInv(t, inv, pb, engine.Options{})
	if strings.Contains(out, "localhost etest_echo") || strings.Contains(out, "second localhost") {
		t.Fatalf("an implicit localhost joined the run:\n%s", out)
	}
	if !strings.Contains(out, "second w1") {
		t.Fatalf("w1 did not run the second play:\n%s", out)
	}
}

// Naming localhost explicitly still works without an inventory entry.
func TestExplicitLocalhostPatternRuns(t *testing.T) {
	inv := "all:\n  hosts:\n    w1: {ansible_connection: local}\n"
	pb := `
- hosts: w1:localhost
  gather_facts: false
  tasks:
    - etest_echo: {msg: "on {{ inventory_hostname }}"}
`
	out := runInv(t, inv, pb, engine.Options{})
	if !strings.Contains(out, "on localhost") || !strings.Contains(out, "on w1") {
		t.Fatalf("want both w1 and localhost:\n%s", out)
	}
}
