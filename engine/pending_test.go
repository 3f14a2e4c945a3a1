package engine_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// runMod runs a command while checking, as a check_mode: false task does
// under --check; a failing command fails the task.
type runMod struct {
	Cmd string `yaml:"cmd"`
}

func (m *runMod) Validate() error { return nil }
func (m *runMod) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	_, err := conn.Output(ctx, h.Conn(), m.Cmd)
	return plan.Diff{}, err
}
func (m *runMod) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

// readMod reads a file in Check and fails when it is missing; it does not
// declare what it reads (no modules.Reader), so only its error tells.
type readMod struct {
	Path string `yaml:"path"`
}

func (m *readMod) Validate() error { return nil }
func (m *readMod) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	_, err := h.Conn().ReadFile(ctx, m.Path)
	return plan.Diff{}, err
}
func (m *readMod) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func init() {
	modules.Register(modules.Info{Name: "etest_run", Summary: "test", New: func() modules.Module { return &runMod{} }})
	modules.Register(modules.Info{Name: "etest_read", Summary: "test", New: func() modules.Module { return &readMod{} }})
}

// What a task depends on comes from its templates' parse trees: a literal
// word that happens to equal a pending register's name is not a reference,
// and a forced check_mode: false task that fails on a file an earlier task
// would write is known after apply, found from its arguments and its
// error's path, not from the error's text.
func TestKnownAfterApplyFromStructure(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: write
      etest_file: {path: "` + dir + `/c", content: "x"}
      register: w
    - name: literal w
      etest_echo: {msg: "w"}
    - name: literal in a template
      etest_echo: {msg: "{{ 'w' ~ inventory_hostname }}"}
    - name: cat it
      etest_run: {cmd: "cat ` + dir + `/c"}
      check_mode: false
    - name: read it
      etest_read: {path: "` + dir + `/c"}
      check_mode: false
    - name: cat another
      etest_run: {cmd: "cat ` + dir + `/other"}
      check_mode: false
      ignore_errors: true
`
	_, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.results(), "\n")
	want := "a write changed\na literal w ok\na literal in a template ok\na cat it unknown\na read it unknown\na cat another ignored"
	if got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	for _, e := range rec.events {
		if e.Type == engine.EventTaskResult && e.Task == "cat it" && !strings.Contains(e.Msg, "failed on "+dir+"/c, which an earlier task would change") {
			t.Fatalf("cat it: msg %q", e.Msg)
		}
	}
}

// The engine never adds hosts to the inventory: a pattern that merely
// contains the word localhost (a group "notlocalhost_group", a host
// "localhost-1", a glob "*localhost*") must not conjure an implicit
// localhost into the run.
func TestNoImplicitLocalhostFromPatterns(t *testing.T) {
	inv := `
all:
  hosts:
    localhost-1: {ansible_connection: local}
  children:
    notlocalhost_group:
      hosts:
        n1: {ansible_connection: local}
`
	pb := `
- hosts: localhost-1
  gather_facts: false
  tasks: [{etest_echo: {msg: one}}]
- hosts: notlocalhost_group
  gather_facts: false
  tasks: [{etest_echo: {msg: two}}]
- hosts: all
  gather_facts: false
  tasks: [{etest_echo: {msg: three}}]
- hosts: "*localhost*"
  gather_facts: false
  tasks: [{etest_echo: {msg: four}}]
`
	out := runInv(t, inv, pb, engine.Options{})
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "localhost ") {
			t.Fatalf("a play ran on an implicit localhost:\n%s", out)
		}
	}
	for _, want := range []string{"localhost-1 etest_echo ok one", "n1 etest_echo ok two", "n1 etest_echo ok three", "localhost-1 etest_echo ok four"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

// A template file that reads a result only known after apply is known after
// apply too, under --check (cyberark's conjur.identity.j2 reads the api_key
// of a uri call that would run), found from the template's parse tree as a
// task's own arguments are; one that reads nothing pending is judged.
func TestKnownAfterApplyThroughTemplateFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/identity.j2", []byte("password {{ w.json.api_key }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/plain.j2", []byte("host {{ inventory_hostname }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: request
      etest_file: {path: "` + dir + `/c", content: "x"}
      register: w
    - name: identity
      template: {src: "` + dir + `/identity.j2", dest: "` + dir + `/identity"}
    - name: plain
      template: {src: "` + dir + `/plain.j2", dest: "` + dir + `/plain"}
`
	_, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rec.results(), "\n"), "a request changed\na identity unknown\na plain changed"; got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	for _, e := range rec.events {
		if e.Type == engine.EventTaskResult && e.Task == "identity" && !strings.Contains(e.Msg, `depends on "w", registered by a task that would change`) {
			t.Fatalf("identity: msg %q", e.Msg)
		}
	}
}
