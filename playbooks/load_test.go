package playbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

// A block whose every task has an error reports those errors only: not a
// second one saying the block is a task without a module (k3s-ansible's
// firewalld block, all of whose tasks use one module).
func TestBlockOfBrokenTasksReportsOnlyThem(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": "- hosts: all\n  tasks:\n    - name: b\n      block:\n        - ptset: {path: /x}\n        - ptset: {path: /y}\n"})
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	var errs LoadErrors
	if !errors.As(err, &errs) || len(errs) != 2 || strings.Contains(err.Error(), "has no module") {
		t.Fatalf("err = %v\nwant the two unknown modules only", err)
	}
}

// kubespray's cluster.yml spells it ansible.builtin.import_playbook, with a
// name; the import's vars override the imported play's and its tags add to
// the play's, as in ansible-core.
func TestImportPlaybookFQCNVarsTags(t *testing.T) {
	dir := write(t, map[string]string{
		"site.yml": `
- name: Install Kubernetes
  ansible.builtin.import_playbook: playbooks/cluster.yml
  vars: {k8s: "1.34", only_import: x}
  tags: [cluster]
- import_playbook: playbooks/cluster.yml
`,
		"playbooks/cluster.yml": "- hosts: all\n  vars: {k8s: \"1.30\", own: y}\n  tags: [own]\n  tasks:\n    - ptest: {path: /x}\n",
	})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "site.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Plays) != 2 {
		t.Fatalf("%d plays, want 2", len(pb.Plays))
	}
	p := pb.Plays[0]
	if p.Vars["k8s"] != "1.34" || p.Vars["own"] != "y" || p.Vars["only_import"] != "x" || !reflect.DeepEqual(p.Tags, []string{"own", "cluster"}) {
		t.Errorf("imported with vars and tags: vars %v tags %v", p.Vars, p.Tags)
	}
	if p := pb.Plays[1]; p.Vars["k8s"] != "1.30" || !reflect.DeepEqual(p.Tags, []string{"own"}) {
		t.Errorf("the plain import changed: vars %v tags %v", p.Vars, p.Tags)
	}
	for src, want := range map[string]string{
		"- import_playbook: playbooks/cluster.yml\n  bogus: 1\n": `site.yml:2: import_playbook: unknown keyword "bogus"`,
	} {
		os.WriteFile(filepath.Join(dir, "site.yml"), []byte(src), 0o644)
		if _, err := (&Loader{}).Load(filepath.Join(dir, "site.yml")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

// Play keywords as templates (kubespray's any_errors_fatal: "{{
// any_errors_fatal | default(true) }}") are rendered with the play's vars
// and extra vars, as ansible-core renders them.
func TestTemplatedPlayKeywords(t *testing.T) {
	src := `
- hosts: all
  any_errors_fatal: "{{ any_errors_fatal | default(true) }}"
  become: "{{ use_sudo }}"
  gather_facts: "{{ facts | default('no') }}"
  run_once: "{{ once | default(false) }}"
  vars: {use_sudo: yes}
  tasks:
    - ptest: {path: /x}
    - block:
        - ptest: {path: /y}
`
	dir := write(t, map[string]string{"pb.yml": src})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if !p.AnyErrorsFatal || p.Become == nil || !*p.Become || p.GatherFacts == nil || *p.GatherFacts || p.RunOnce {
		t.Errorf("any_errors_fatal %v become %v gather_facts %v run_once %v", p.AnyErrorsFatal, p.Become, p.GatherFacts, p.RunOnce)
	}
	pb, err = (&Loader{Vars: map[string]any{"any_errors_fatal": false, "once": "True"}}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p = pb.Plays[0]
	if p.AnyErrorsFatal || !p.RunOnce || !p.Tasks[0].RunOnce || !p.Tasks[1].Block[0].RunOnce {
		t.Errorf("with -e: any_errors_fatal %v run_once %v (tasks %v, %v)", p.AnyErrorsFatal, p.RunOnce, p.Tasks[0].RunOnce, p.Tasks[1].Block[0].RunOnce)
	}
	os.WriteFile(filepath.Join(dir, "pb.yml"), []byte("- hosts: all\n  become: \"{{ inventory_only }}\"\n  tasks: []\n"), 0o644)
	if _, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml")); err == nil || !strings.Contains(err.Error(), `pb.yml:2: become:`) || !strings.Contains(err.Error(), "play's vars and extra vars") {
		t.Errorf("undefined in a play keyword: %v", err)
	}
}

// connection: local runs a task on the controller, as delegate_to:
// localhost; ssh is what gpuctl does; other plugins are refused at load.
func TestTaskConnection(t *testing.T) {
	dir := write(t, map[string]string{"pb.yml": `
- hosts: all
  tasks:
    - ptest: {path: /x}
      connection: local
    - ptest: {path: /y}
      connection: ssh
`})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if ts := pb.Plays[0].Tasks; ts[0].DelegateTo != "localhost" || ts[1].DelegateTo != "" {
		t.Errorf("delegate_to = %q, %q", ts[0].DelegateTo, ts[1].DelegateTo)
	}
	os.WriteFile(filepath.Join(dir, "pb.yml"), []byte("- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      connection: community.docker.docker\n"), 0o644)
	if _, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml")); err == nil || !strings.Contains(err.Error(), `pb.yml:4: connection "community.docker.docker"`) {
		t.Errorf("err = %v", err)
	}
}

func TestRemoteUser(t *testing.T) {
	dir := write(t, map[string]string{"pb.yml": "- hosts: all\n  remote_user: root\n  tasks: []\n- hosts: all\n  vars: {u: deploy}\n  remote_user: \"{{ u }}\"\n  tasks: []\n"})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if pb.Plays[0].RemoteUser != "root" || pb.Plays[1].RemoteUser != "deploy" {
		t.Errorf("remote_user = %q, %q", pb.Plays[0].RemoteUser, pb.Plays[1].RemoteUser)
	}
}

// A task may notify a handler the play lacks (a RedHat branch's "restart
// docker" in NVIDIA's nvidia-docker role): ansible-core loads it and fails
// only if the task changes something, so it loads here with a warning.
func TestMissingHandlerWarns(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      notify: nope\n"})
	l := &Loader{}
	if _, err := l.Load(filepath.Join(dir, "pb.yaml")); err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], `pb.yaml:3 (task "ptest"): notifies handler "nope"`) {
		t.Errorf("warnings = %q", l.Warnings)
	}
}

// module_defaults: action groups are refused by name (their modules are
// other collections'), a scalar that is not a template is an error.
func TestModuleDefaultsErrors(t *testing.T) {
	for src, want := range map[string]string{
		"- hosts: all\n  module_defaults: {group/aws: {region: x}}\n  tasks: []\n":              `pb.yaml:2: module_defaults: action group "group/aws" is not supported`,
		"- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      module_defaults: nope\n":        `pb.yaml:4: module_defaults: expected a mapping`,
		"- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      module_defaults: {copy: [1]}\n": `pb.yaml:4: module_defaults: copy: expected a mapping of arguments`,
	} {
		dir := write(t, map[string]string{"pb.yaml": src})
		_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %s", src, err, want)
		}
	}
}

func TestLoopControlUnknownKey(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      loop: [1]\n      loop_control: {index: i}\n"})
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err == nil || !strings.Contains(err.Error(), `pb.yaml:5: unknown loop_control key "index"`) {
		t.Fatalf("err = %v", err)
	}
}

// collections: on a play or block names namespaces for short names; gpuctl
// resolves short names itself, so it loads, and must be a list of strings.
func TestCollectionsKeyword(t *testing.T) {
	dir := write(t, map[string]string{"pb.yaml": "- hosts: all\n  collections: [community.general]\n  tasks:\n    - block:\n        - ptest: {path: /x}\n      collections: [ansible.posix]\n"})
	if _, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml")); err != nil {
		t.Fatal(err)
	}
	dir = write(t, map[string]string{"pb.yaml": "- hosts: all\n  collections: {a: b}\n  tasks: []\n"})
	if _, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml")); err == nil || !strings.Contains(err.Error(), "pb.yaml:2") {
		t.Fatalf("err = %v", err)
	}
}
