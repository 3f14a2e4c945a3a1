package playbooks

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestTaskRefsFromParseTree(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": `
- hosts: all
  tasks:
    - block:
        - ptest: {path: "/x/{{ hostvars['a'].join.stdout }}", cmd: "echo w"}
          loop: "{{ names }}"
          when: ["inventory_hostname == 'a'", "w.changed"]
          changed_when: out.rc != 0
      when: gate
`})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block := pb.Plays[0].Tasks[0]
	if !slices.Equal(block.Refs.When[0], []string{"gate"}) {
		t.Fatalf("block when refs = %q", block.Refs.When)
	}
	task := block.Block[0]
	if !slices.Equal(task.Refs.When[0], []string{"inventory_hostname"}) || !slices.Equal(task.Refs.When[1], []string{"w.changed"}) {
		t.Fatalf("when refs = %q", task.Refs.When)
	}
	// "w" in the literal "echo w" is not a reference
	want := []string{"hostvars.a.join.stdout", "names", "out.rc"}
	if !slices.Equal(task.Refs.Args, want) {
		t.Fatalf("arg refs = %q, want %q", task.Refs.Args, want)
	}
	if got := task.Refs.Roots(); !slices.Equal(got, []string{"hostvars", "inventory_hostname", "names", "out", "w"}) {
		t.Fatalf("roots = %q", got)
	}
}

// Assert and debug evaluate bare expressions: what they read must be in
// the refs, or an assert on a result only known after apply fails in check
// mode instead of being unknown.
func TestTaskRefsOfBareExpressionArgs(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": `
- hosts: all
  tasks:
    - assert:
        that: ["'welcome ' ~ inventory_hostname in motd.stdout", "x.rc == 0"]
    - debug: {var: out.stdout_lines}
`})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ts := pb.Plays[0].Tasks
	if want := []string{"inventory_hostname", "motd.stdout", "x.rc"}; !slices.Equal(ts[0].Refs.Args, want) {
		t.Fatalf("assert refs = %q, want %q", ts[0].Refs.Args, want)
	}
	if want := []string{"out.stdout_lines"}; !slices.Equal(ts[1].Refs.Args, want) {
		t.Fatalf("debug refs = %q, want %q", ts[1].Refs.Args, want)
	}
}
