package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
)

// set_fact's variable names may be templates, as ansible-core's action
// renders them (dev-sec's os_hardening: "{{ item.key }}": "{{ item.value }}").
func TestSetFactTemplatedNames(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  vars:
    src: {one: 1, two: b}
  tasks:
    - set_fact:
        "{{ item.key }}": "{{ item.value }}"
      with_dict: "{{ src }}"
    - copy: {dest: OUT/out, content: "{{ one }} {{ two }}"}
`
	out := t.TempDir()
	_, rec, err := run(t, strings.ReplaceAll(pb, "OUT", out), engine.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
	if b, _ := os.ReadFile(filepath.Join(out, "out")); string(b) != "1 b" {
		t.Errorf("out = %q", b)
	}
}

// A template of a collection's role sees ansible_managed (ansible-core's
// "Ansible managed"), through the comment filter, and ansible_role_name,
// the role's fully qualified name.
func TestTemplateAnsibleManagedAndRoleName(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"collections/ansible_collections/ns/coll/roles/r/templates/t.j2": "{{ ansible_managed | comment }}\n{{ ansible_role_name }} {{ role_name }}\n",
		"collections/ansible_collections/ns/coll/roles/r/tasks/main.yml": "- template: {src: t.j2, dest: \"{{ out }}\"}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pb := "- hosts: a\n  gather_facts: false\n  roles:\n    - role: ns.coll.r\n      vars: {out: DIR/t}\n"
	if _, _, err := runIn(t, dir, invLocal, pb, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "t")); string(b) != "#\n# Ansible managed\n#\nns.coll.r r\n" {
		t.Errorf("t = %q", b)
	}
}

// Under --check a loop over a result only known after apply (a command's
// stdout_lines: the command did not run) is itself known after apply, not
// an error about the missing key.
func TestCheckModeLoopOverPendingResult(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: find
      shell: ls /
      loop: [1]
      register: found
      changed_when: false
    - name: each
      file: {path: "DIR/{{ item.1 }}", state: touch}
      with_subelements:
        - "{{ found.results }}"
        - stdout_lines
`
	_, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
	if got := rec.results(); len(got) != 2 || got[1] != "a each unknown" {
		t.Errorf("results: %q", got)
	}
}

// A vars_files entry naming a host variable is read per host; before the
// host has facts an undefined name skips it, as ansible-core does, and a
// file that is missing once it renders fails the host's task, naming the
// entry.
func TestVarsFilesPerHost(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "one.yml"), []byte("x: one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pb := `
- hosts: a
  gather_facts: false
  vars: {which: one}
  vars_files:
    - "{{ not_yet }}.yml"
    - "{{ which }}.yml"
  tasks:
    - copy: {dest: DIR/out, content: "{{ x }}"}
`
	if _, rec, err := runIn(t, dir, invLocal, pb, engine.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "one" {
		t.Errorf("out = %q", b)
	}
	missing := strings.Replace(pb, "{which: one}", "{which: two}", 1)
	_, _, err := runIn(t, dir, invLocal, missing, engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "vars_files (") || !strings.Contains(err.Error(), "two.yml") {
		t.Fatalf("err = %v, want the vars_files entry and two.yml named", err)
	}
}

// A task notifying a handler the play lacks fails when it changes
// something, as in ansible-core, and passes when it changes nothing.
func TestNotifyMissingHandler(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: unchanged
      command: "true"
      changed_when: false
      notify: nope
    - name: changed
      command: "true"
      notify: nope
`
	_, rec, err := run(t, pb, engine.Options{})
	if err == nil || !strings.Contains(err.Error(), `the requested handler "nope" was not found`) {
		t.Fatalf("err = %v", err)
	}
	got := strings.Join(rec.results(), "\n")
	if !strings.Contains(got, "unchanged") || !strings.Contains(got, "ok") {
		t.Errorf("results:\n%s", got)
	}
}

// A with_ loop that yields nothing (with_subelements over results whose
// lists are all empty: dev-sec's os_hardening finds no group-writable
// files) runs the task zero times, as a plain loop over [] does, instead
// of once without item.
func TestEmptyWithLoopRunsNothing(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  vars:
    results: [{stdout_lines: []}, {stdout_lines: []}]
  tasks:
    - file: {path: "{{ item.1 }}", state: touch}
      with_subelements: ["{{ results }}", stdout_lines]
    - file: {path: "{{ item.0 }}", state: touch}
      with_nested: [[a, b], []]
`
	if _, rec, err := run(t, pb, engine.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
}

// loop_control's label names each item in output, as ansible-core shows
// "(item=APPLE)"; the registered item stays the item.
func TestLoopLabel(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - debug: {msg: "{{ item.name }}"}
      loop: [{name: apple, secret: x}]
      loop_control: {label: "{{ item.name | upper }}"}
      register: r
    - assert: {that: ["r.results[0].item.secret == 'x'"]}
`
	_, rec, err := run(t, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var items []any
	for _, e := range rec.events {
		if e.Type == engine.EventTaskResult && e.Task == "debug" {
			items = append(items, e.Item)
		}
	}
	if len(items) != 1 || items[0] != "APPLE" {
		t.Errorf("items shown = %v, want [APPLE]", items)
	}
}

// The diff keyword: false hides a task's diff under --diff (roles set it
// on tasks writing secrets), true shows it without --diff; a block passes
// it to its tasks.
func TestDiffKeyword(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: hidden
      copy: {dest: DIR/a, content: "secret\n"}
      diff: false
    - block:
        - name: shown
          copy: {dest: DIR/b, content: "plain\n"}
      diff: true
    - name: default
      copy: {dest: DIR/c, content: "plain\n"}
`
	for _, withDiff := range []bool{false, true} {
		_, rec, err := runIn(t, t.TempDir(), invLocal, pb, engine.Options{Check: true, Diff: withDiff})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range rec.events {
			if e.Type == engine.EventTaskResult {
				got[e.Task] = e.Diff != nil
			}
		}
		want := map[string]bool{"hidden": false, "shown": true, "default": withDiff}
		for task, w := range want {
			if got[task] != w {
				t.Errorf("--diff=%v: task %s has a diff: %v, want %v", withDiff, task, got[task], w)
			}
		}
	}
}

// vars_prompt: -e skips the question; a prompt and default may be
// templates; without a terminal the default is used; encrypt hashes the
// answer; a private answer is masked.
func TestVarsPrompt(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  vars: {who: world}
  vars_prompt:
    - name: greeting
      prompt: "Greeting for {{ who }}"
      default: "hello {{ who }}"
      private: false
    - name: given
      prompt: never asked
    - name: pw
      prompt: Password
      encrypt: sha512_crypt
      salt: abcdefgh
      confirm: true
  tasks:
    - copy: {dest: DIR/out, content: "{{ greeting }} {{ given }} {{ pw }}"}
`
	var asked []string
	answers := map[string]string{"Greeting for world [hello world]: ": "", "Password: ": "s3cret", "confirm Password: ": "s3cret"}
	dir := t.TempDir()
	_, rec, err := runIn(t, dir, invLocal, pb, engine.Options{
		ExtraVars: map[string]any{"given": "from-e"},
		Prompt: func(msg string, private bool) (string, error) {
			asked = append(asked, fmt.Sprintf("%s private=%v", msg, private))
			return answers[msg], nil
		},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
	want := "Greeting for world [hello world]:  private=false|Password:  private=true|confirm Password:  private=true"
	if got := strings.Join(asked, "|"); got != want {
		t.Errorf("asked %q, want %q", got, want)
	}
	// python3 -c 'import crypt; print(crypt.crypt("s3cret", "$6$rounds=656000$abcdefgh"))'
	b, _ := os.ReadFile(filepath.Join(dir, "out"))
	if !strings.HasPrefix(string(b), "hello world from-e $6$rounds=656000$abcdefgh$") {
		t.Errorf("out = %q", b)
	}

	// not interactive: defaults, and a warning
	dir = t.TempDir()
	_, rec, err = runIn(t, dir, invLocal, strings.Replace(pb, "      confirm: true\n", "      default: d\n", 1), engine.Options{ExtraVars: map[string]any{"given": "g"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "out"))
	if !strings.HasPrefix(string(b), "hello world g $6$") {
		t.Errorf("out = %q", b)
	}
	warned := false
	for _, e := range rec.events {
		warned = warned || (e.Type == engine.EventWarning && strings.Contains(e.Msg, "not prompting"))
	}
	if !warned {
		t.Error("no warning that nothing was asked")
	}
}

// portConnector records the ansible_port each host is dialled with; hosts
// connect in parallel.
type portConnector struct {
	mu    *sync.Mutex
	ports map[string]any
}

func (c portConnector) Connect(_ context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ports[h.Name] = vars["ansible_port"]
	return local.New(), nil
}

// The play's port keyword is the SSH port of hosts whose variables name
// none; ansible_port (or ansible_ssh_port) wins.
func TestPlayPortKeyword(t *testing.T) {
	inv := "all:\n  hosts:\n    a: {}\n    b: {ansible_port: 2200}\n    c: {ansible_ssh_port: 2201}\n"
	pb := "- hosts: all\n  gather_facts: false\n  port: 2222\n  tasks:\n    - debug: {msg: hi}\n"
	c := portConnector{mu: &sync.Mutex{}, ports: map[string]any{}}
	if _, _, err := runIn(t, t.TempDir(), inv, pb, engine.Options{Connector: c}); err != nil {
		t.Fatal(err)
	}
	if c.ports["a"] != 2222 || c.ports["b"] != 2200 || c.ports["c"] != nil {
		t.Errorf("ports = %v", c.ports)
	}
}
