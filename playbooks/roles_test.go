package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/gpuctl/gpuctl/modules/generic"
)

func TestRolesFromAnsibleCfgRolesPath(t *testing.T) {
	pb, err := (&Loader{}).Load("testdata/roleslib/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if len(p.Roles) != 1 || p.Roles[0].Role == nil || !strings.HasSuffix(p.Roles[0].Role.Path, "myroles/nvidia_toolkit") {
		t.Fatalf("roles = %+v", p.Roles)
	}
	r := p.Roles[0]
	if r.Role.Defaults["nvidia_toolkit_repo"] != "https://nvidia.github.io/libnvidia-container" {
		t.Errorf("defaults = %v", r.Role.Defaults)
	}
	// main.yml's FQCN include_tasks loaded install.yml
	if len(r.Include) != 1 || len(r.Include[0].Include) != 1 || r.Include[0].Include[0].Module != "command" {
		t.Fatalf("role tasks = %+v", r.Include)
	}
	inc := p.Tasks[0]
	if inc.Role == nil || len(inc.Include) != 1 || inc.Include[0].Name != "remove toolkit config" {
		t.Fatalf("include_role tasks_from = %+v", inc)
	}
	if inc.Role.Params["nvidia_toolkit_repo"] != "local" {
		t.Errorf("include_role vars are params: %v", inc.Role.Params)
	}
	// import_role of a role already in roles: still runs (dedup is for roles: and deps)
	if len(p.Tasks[1].Include) != 1 {
		t.Errorf("import_role tasks = %+v", p.Tasks[1].Include)
	}
	// the role's handler is in the play once, by name and as "role : name"
	if len(p.Handlers) != 1 || !strings.Contains(strings.Join(p.Handlers[0].Listen, ","), "nvidia_toolkit : restart containerd") {
		t.Fatalf("handlers = %+v", p.Handlers)
	}
}

func TestRoleNotFoundSaysWhere(t *testing.T) {
	_, err := (&Loader{}).Load(filepath.Join(write(t, map[string]string{"pb.yaml": "- hosts: all\n  roles:\n    - geerlingguy.docker\n"}), "pb.yaml"))
	if err == nil || !strings.Contains(err.Error(), `pb.yaml:3: role "geerlingguy.docker" not found in`) {
		t.Fatalf("err = %v", err)
	}
}

// Every error of a playbook comes at once, each with file:line, and an
// Ansible module gpuctl spells differently names what to write instead.
func TestEveryLoadErrorAtOnce(t *testing.T) {
	// an ansible-core without routing: docker_container is not
	// community.docker's Python module here, whatever this machine has
	fakeCore(t)
	dir := write(t, map[string]string{"pb.yaml": `- hosts: all
  tasks:
    - name: a typo
      comand: ls
    - name: look
      nftables_rule: {rule: allow, port: "22"}
    - name: container
      docker_container: {name: x}
    - ptest: {path: /x}
      whne: true
- hosts: all
  rolez: [x]
`})
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"5 errors:",
		`pb.yaml:4: task "a typo": unknown module "comand" (did you mean "command"?)`,
		`pb.yaml:6: task "look": unknown module "nftables_rule"`,
		`pb.yaml:8: task "container": unknown module "docker_container"`,
		"in gpuctl use `containerd`/`image_import`",
		`pb.yaml:10: task "ptest": unknown keyword "whne" (did you mean "when"?)`,
		`pb.yaml:12: unknown play keyword "rolez" (did you mean "roles"?)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("not ErrInvalid")
	}
}

// defaults/main and vars/main may be directories (kubespray_defaults has
// nothing else): every file below, sorted by name, later keys winning;
// hidden files, backups and other extensions are skipped, as in Ansible.
func TestRoleVarsDirectories(t *testing.T) {
	dir := write(t, map[string]string{
		"pb.yml":                                 "- hosts: all\n  roles: [defs]\n",
		"roles/defs/defaults/main/a.yml":         "k8s: '1.30'\nfrom_a: a\n",
		"roles/defs/defaults/main/b/nested.yaml": "k8s: '1.34'\n",
		"roles/defs/defaults/main/c.json":        `{"from_json": true}`,
		"roles/defs/defaults/main/.hidden.yml":   "k8s: hidden\n",
		"roles/defs/defaults/main/d.yml~":        "k8s: backup\n",
		"roles/defs/defaults/main/notes.txt":     "k8s: text\n",
		"roles/defs/defaults/main/empty.yml":     "",
		"roles/defs/vars/main/checksums.yml":     "sums: {a: 1}\n",
	})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	r := pb.Plays[0].Roles[0].Role
	if r == nil {
		t.Fatal("a role with only defaults/main/ and vars/main/ directories was not found")
	}
	want := map[string]any{"k8s": "1.34", "from_a": "a", "from_json": true}
	if !reflect.DeepEqual(r.Defaults, want) {
		t.Errorf("defaults = %v, want %v", r.Defaults, want)
	}
	if r.Vars["sums"] == nil {
		t.Errorf("vars = %v", r.Vars)
	}
}

// include_role may take its name from host variables: it is loaded when it
// runs. From extra vars alone, it is loaded now; import_role must be known
// now; a broken name template is a load error either way.
func TestIncludeRoleNameFromVariables(t *testing.T) {
	dir := write(t, map[string]string{
		"pb.yml": `
- hosts: all
  vars: {plugin: flannel}
  tasks:
    - include_role: {name: "net/{{ plugin }}"}
    - include_role: {name: "net/{{ cli_plugin }}"}
`,
		"roles/net/flannel/tasks/main.yml": "- debug: msg=flannel\n",
		"roles/net/calico/tasks/main.yml":  "- debug: msg=calico\n",
	})
	pb, err := (&Loader{Vars: map[string]any{"cli_plugin": "calico"}}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dyn, static := pb.Plays[0].Tasks[0], pb.Plays[0].Tasks[1]
	if dyn.IncludeRole == nil || dyn.IncludeRole.Name != "net/{{ plugin }}" || dyn.Role != nil {
		t.Errorf("play var: %+v, want loaded at run time", dyn)
	}
	if static.IncludeRole != nil || static.Role == nil || static.Role.Name != "net/calico" || len(static.Include) != 1 {
		t.Errorf("extra var: %+v, want loaded now as net/calico", static)
	}
	task, _, err := LoadRole(dyn.IncludeRole, "net/flannel", nil)
	if err != nil || task.Role == nil || task.Role.Path != filepath.Join(dir, "roles/net/flannel") || len(task.Include) != 1 {
		t.Fatalf("LoadRole: %+v, %v", task, err)
	}
	if _, _, err := LoadRole(dyn.IncludeRole, "net/weave", nil); err == nil || !strings.Contains(err.Error(), `pb.yml:5: role "net/weave" not found`) {
		t.Errorf("LoadRole of a missing role: %v", err)
	}
	for src, want := range map[string]string{
		"- hosts: all\n  vars: {p: x}\n  tasks:\n    - import_role: {name: \"{{ p }}\"}\n": `import_role name "{{ p }}" must be known before the run`,
		"- hosts: all\n  tasks:\n    - include_role: {name: \"{{ p | nofilter }}\"}\n":     `include_role name`,
	} {
		os.WriteFile(filepath.Join(dir, "pb.yml"), []byte(src), 0o644)
		if _, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
