package playbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

type ptest struct {
	Path  string `yaml:"path" required:"true"`
	Mode  string `yaml:"mode" choices:"a,b"`
	Count int    `yaml:"count"`
	Cmd   string `yaml:"cmd"`
}

func (p *ptest) Validate() error                                        { return nil }
func (p *ptest) Check(context.Context, modules.Host) (plan.Diff, error) { return plan.Diff{}, nil }
func (p *ptest) Apply(context.Context, modules.Host, plan.Diff) error   { return nil }

func init() {
	modules.Register(modules.Info{Name: "ptest", New: func() modules.Module { return &ptest{} }})
}

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadValid(t *testing.T) {
	dir := write(t, map[string]string{
		"site.yaml": `
- import_playbook: sub.yaml
- name: main
  hosts: all
  vars_files: [vars.yaml]
  tasks:
    - name: first
      ptest: path=/x count=3 cmd={{ x | default('a b') }}/y
    - import_tasks: tasks/more.yaml
    - block:
        - ansible.builtin.ptest: {path: "/{{ item }}"}
          loop: [a, b]
      rescue:
        - ptest: {path: /r}
      when: x is defined
`,
		"sub.yaml":        "- hosts: localhost\n  tasks: []\n",
		"vars.yaml":       "x: 1\n",
		"tasks/more.yaml": "- ptest: {path: /more, mode: a}\n  notify: h\n",
	})
	os.WriteFile(filepath.Join(dir, "site.yaml"), append(mustRead(t, filepath.Join(dir, "site.yaml")), []byte("  handlers:\n    - name: h\n      ptest: {path: /h}\n")...), 0o644)
	pb, err := (&Loader{}).Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Plays) != 2 || pb.Plays[1].Vars["x"] != 1 {
		t.Fatalf("plays = %+v", pb.Plays)
	}
	tasks := pb.Plays[1].Tasks
	if tasks[0].Args["count"] != "3" || tasks[0].Args["path"] != "/x" || tasks[0].Args["cmd"] != "{{ x | default('a b') }}/y" {
		t.Fatalf("kv args = %v", tasks[0].Args)
	}
	if len(tasks[1].Include) != 1 || tasks[1].Include[0].Pos.Line != 1 || !strings.HasSuffix(tasks[1].Include[0].Pos.File, "more.yaml") {
		t.Fatalf("include = %+v", tasks[1].Include)
	}
	if tasks[2].Block[0].Module != "ptest" || len(tasks[2].Rescue) != 1 {
		t.Fatalf("block = %+v", tasks[2])
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"yaml", "- hosts: all\n  tasks:\n    - ptest: {path: /x\n", "pb.yaml: line"},
		{"unknown module", "- hosts: all\n  tasks:\n    - name: t\n      ptset: {path: /x}\n", `pb.yaml:4: task "t": unknown module "ptset" (did you mean "ptest"?)`},
		{"unknown arg", "- hosts: all\n  tasks:\n    - ptest: {path: /x, bogus: 1}\n", `pb.yaml:3 (task "ptest"): module ptest: unknown argument "bogus"`},
		{"wrong type", "- hosts: all\n  tasks:\n    - ptest: {path: /x, count: many}\n", `pb.yaml:3 (task "ptest"): module ptest:`},
		{"choices", "- hosts: all\n  tasks:\n    - ptest: {path: /x, mode: c}\n", `expected one of a, b`},
		{"required", "- hosts: all\n  tasks:\n    - ptest: {mode: a}\n", `missing required argument "path"`},
		{"unknown keyword", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      whne: x\n", `pb.yaml:4: task "ptest": unknown keyword "whne" (did you mean "when"?)`},
		{"two modules", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      ptest2: {}\n", `unknown keyword "ptest2"`},
		{"play keyword", "- hosts: all\n  taks: []\n", `pb.yaml:2: unknown play keyword "taks" (did you mean "tags" or "tasks"?)`},
		{"no hosts", "- name: x\n  tasks: []\n", `pb.yaml:1: play "x" has no hosts`},
		{"missing handler", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      notify: nope\n", `notifies handler "nope"`},
		{"bad arg template", "- hosts: all\n  tasks:\n    - ptest: {path: \"{{ (a if b else c }}\"}\n", `pb.yaml:3 (task "ptest"): template`},
		{"bad condition", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      when: x ==== 1\n", `condition "x ==== 1"`},
		{"undefined in hosts", "- hosts: '{{ target }}'\n  tasks: []\n", `pb.yaml:1: hosts: undefined variable "target"`},
		{"bad include", "- hosts: all\n  tasks:\n    - import_tasks: missing.yaml\n", `missing.yaml`},
		{"tasks not list", "- hosts: all\n  tasks: {a: 1}\n", `pb.yaml:2: tasks must be a list`},
		{"bool", "- hosts: all\n  become: maybe\n  tasks: []\n", `pb.yaml:2: expected true or false, got "maybe"`},
		{"unknown with lookup", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      with_community.general.nope: [1]\n", `pb.yaml:4: with_community.general.nope: lookup plugin "nope" is not supported`},
		{"bad literal escape", "- hosts: all\n  tasks:\n    - ptest: {path: \"{% set a = '\\\\x4' %}{{ a }}\"}\n", `pb.yaml:3 (task "ptest"): template "{% set a = '\\x4' %}{{ a }}": template syntax: string literal '\x4': truncated \xXX escape`},
		{"bad literal escape in when", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      when: \"'\\\\N{NOPE}' == a\"\n", `unknown Unicode character name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, map[string]string{"pb.yaml": c.src})
			_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("- hosts: all\n  tasks:\n    - ptest: {path: /x}\n")
	f.Add("- hosts: all\n  tasks:\n    - block: [{ptest: path=/x}]\n")
	f.Fuzz(func(t *testing.T, src string) {
		l := &Loader{ReadFile: func(string) ([]byte, error) { return []byte(src), nil }}
		pb, err := l.Load("pb.yaml")
		if err == nil && pb == nil {
			t.Fatal("nil playbook without error")
		}
	})
}

// warn: of command/shell did nothing on the host and is gone from
// ansible-core 2.14; it loads with a warning naming file and line.
func TestLoadShellWarnIsNoOp(t *testing.T) {
	dir := write(t, map[string]string{"site.yaml": `
- hosts: all
  tasks:
    - shell: echo hi
      args:
        warn: false
    - command: ls warn=no
`})
	l := &Loader{}
	pb, err := l.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range pb.Plays[0].Tasks {
		if _, ok := task.Args["warn"]; ok {
			t.Errorf("%s: warn kept in args %v", task.Where(), task.Args)
		}
	}
	if len(l.Warnings) != 2 || !strings.Contains(l.Warnings[0], "site.yaml:4: shell: argument warn has no effect") ||
		!strings.Contains(l.Warnings[1], "site.yaml:7: command") {
		t.Errorf("warnings = %q", l.Warnings)
	}
}

// ansible-core's script action reads only its own arguments, so a keyword
// written among them (zabbix_server's selinux.yml: args: {creates, become})
// is ignored there: gpuctl drops it with a warning naming file and line.
func TestLoadScriptIgnoresUnknownArgs(t *testing.T) {
	dir := write(t, map[string]string{"site.yaml": `
- hosts: all
  tasks:
    - script:
        cmd: files/install.bsx
      args:
        creates: /etc/done
        become: true
`})
	l := &Loader{}
	pb, err := l.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args := pb.Plays[0].Tasks[0].Args
	if _, ok := args["become"]; ok || args["creates"] != "/etc/done" || args["cmd"] != "files/install.bsx" {
		t.Errorf("args = %v", args)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "site.yaml:4: script: argument become is not one of script's; ignored") {
		t.Errorf("warnings = %q", l.Warnings)
	}
}

// Ansible's action: forms name the module inside the task: a string
// "module k=v ..." or a mapping with module:; local_action also delegates
// to localhost (sensu_agent's start.yml uses the mapping form).
func TestLoadActionForms(t *testing.T) {
	dir := write(t, map[string]string{"site.yaml": `
- hosts: all
  tasks:
    - action: ptest path=/a count=2
    - action:
        module: ansible.builtin.ptest
        path: /b
      args:
        mode: a
    - local_action: ptest path=/c
`})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tasks := pb.Plays[0].Tasks
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}
	for i, want := range []map[string]any{{"path": "/a", "count": "2"}, {"path": "/b", "mode": "a"}, {"path": "/c"}} {
		if tasks[i].Module != "ptest" || fmt.Sprint(tasks[i].Args) != fmt.Sprint(want) {
			t.Errorf("task %d: module %q args %v, want ptest %v", i, tasks[i].Module, tasks[i].Args, want)
		}
	}
	if tasks[2].DelegateTo != "localhost" || tasks[0].DelegateTo != "" {
		t.Errorf("local_action delegate_to = %q", tasks[2].DelegateTo)
	}

	dir = write(t, map[string]string{"site.yaml": `
- hosts: all
  tasks:
    - action: {path: /x}
    - action: ptest path=/y
      ptest: {path: /z}
`})
	_, err = (&Loader{}).Load(filepath.Join(dir, "site.yaml"))
	if err == nil || !strings.Contains(err.Error(), "site.yaml:4: action: a mapping needs module:") ||
		!strings.Contains(err.Error(), "names two modules") {
		t.Fatalf("err = %v", err)
	}
}
