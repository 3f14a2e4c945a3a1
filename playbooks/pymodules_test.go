package playbooks

import (
	"path/filepath"
	"strings"
	"testing"
)

// fakeCore makes an ansible-core install for FindCore (through VIRTUAL_ENV,
// searched first), so the tests do not depend on this machine's.
func fakeCore(t *testing.T) {
	t.Helper()
	dir := write(t, map[string]string{"lib/python3.11/site-packages/ansible/module_utils/basic.py": "# basic\n"})
	t.Setenv("VIRTUAL_ENV", dir)
}

const pyModule = "from ansible.module_utils.basic import AnsibleModule\n"

// A module gpuctl has no Go module for is Ansible's Python module of that
// name where ansible-core would find it: library/ beside the playbook, a
// role's library/ (for the role's tasks and, once the role is loaded, the
// play's), an installed collection by FQCN, by a short name through the
// play's collections:, or from inside the collection's own role.
func TestPythonModulesResolve(t *testing.T) {
	fakeCore(t)
	colls := write(t, map[string]string{
		"ansible_collections/acme/tools/plugins/modules/widget.py":  pyModule,
		"ansible_collections/acme/tools/plugins/modules/gadget.py":  pyModule,
		"ansible_collections/acme/tools/roles/inner/tasks/main.yml": "- gadget: {a: 1}\n",
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", colls)
	dir := write(t, map[string]string{
		"pb.yml": `- hosts: all
  roles: [r]
  tasks:
    - kube: {name: x, state: present}
    - acme.tools.widget: {size: 3}
    - from_role: {}
    - copy: {dest: /tmp/x, content: y}
- hosts: all
  collections: [acme.tools]
  roles: [acme.tools.inner]
  tasks:
    - widget: {}
`,
		"library/kube.py":              pyModule,
		"library/copy.py":              pyModule,
		"roles/r/tasks/main.yml":       "- from_role: {x: 1}\n",
		"roles/r/library/from_role.py": pyModule,
	})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := pb.Plays[0], pb.Plays[1]
	for _, c := range []struct {
		task *Task
		name string
		path string
	}{
		{p1.Roles[0].Include[0], "from_role", filepath.Join(dir, "roles/r/library/from_role.py")},
		{p1.Tasks[0], "kube", filepath.Join(dir, "library/kube.py")},
		{p1.Tasks[1], "acme.tools.widget", filepath.Join(colls, "ansible_collections/acme/tools/plugins/modules/widget.py")},
		{p1.Tasks[2], "from_role", filepath.Join(dir, "roles/r/library/from_role.py")},
		{p2.Roles[0].Include[0], "gadget", filepath.Join(colls, "ansible_collections/acme/tools/plugins/modules/gadget.py")},
		{p2.Tasks[0], "widget", filepath.Join(colls, "ansible_collections/acme/tools/plugins/modules/widget.py")},
	} {
		if c.task.Spec == nil || c.task.Spec.Name != c.name || !strings.Contains(c.task.Spec.Summary, c.path) {
			t.Errorf("%s: spec %+v, want %s from %s", c.task.Where(), c.task.Spec, c.name, c.path)
		}
	}
	// gpuctl's Go module keeps its name, though library/copy.py exists
	if s := p1.Tasks[3].Spec; s == nil || strings.Contains(s.Summary, "Python") {
		t.Errorf("copy resolved to %+v, want gpuctl's own", s)
	}
}

// What cannot run is a load error naming the task's file and line and the
// reason; a collection's redirect is followed, to a Go module too.
func TestPythonModulesRefused(t *testing.T) {
	fakeCore(t)
	colls := write(t, map[string]string{
		"ansible_collections/acme/tools/plugins/modules/acted.py": pyModule,
		"ansible_collections/acme/tools/plugins/action/acted.py":  "# controller side\n",
		"ansible_collections/acme/tools/plugins/modules/win.ps1":  "# powershell\n",
		"ansible_collections/acme/tools/plugins/modules/old.py":   "# WANT_JSON\nimport json\n",
		"ansible_collections/acme/tools/plugins/modules/newer.py": pyModule,
		"ansible_collections/acme/tools/meta/runtime.yml": `plugin_routing:
  modules:
    gone: {tombstone: {removal_version: 2.0.0, warning_text: Use acme.tools.newer instead.}}
    renamed: {redirect: acme.tools.newer}
    to_go: {redirect: ansible.builtin.copy}
`,
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", colls)
	dir := write(t, map[string]string{"pb.yml": `- hosts: all
  tasks:
    - acme.tools.acted: {}
    - acme.tools.win: {}
    - acme.tools.old: {}
    - acme.tools.gone: {}
    - acme.tools.nosuch: {}
    - acme.tools.renamed: {}
    - acme.tools.to_go: {dest: /tmp/x, content: y}
    - zzz.yyy.mod: {}
`})
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		"pb.yml:3: task \"acme.tools.acted\": acme.tools.acted runs an action plugin on the controller",
		"pb.yml:5: task \"acme.tools.old\": " + filepath.Join(colls, "ansible_collections/acme/tools/plugins/modules/old.py") + " does not import ansible.module_utils",
		"pb.yml:6: task \"acme.tools.gone\": acme.tools.gone was removed from acme.tools: Use acme.tools.newer instead.",
		"pb.yml:7: task \"acme.tools.nosuch\": unknown module \"acme.tools.nosuch\"; collection acme.tools (" +
			filepath.Join(colls, "ansible_collections/acme/tools") + ") has no module nosuch",
		"pb.yml:10: task \"zzz.yyy.mod\": unknown module \"zzz.yyy.mod\"; collection zzz.yyy is not installed (looked in " +
			filepath.Join(colls, "ansible_collections"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), ":4:") || strings.Contains(err.Error(), ":8:") || strings.Contains(err.Error(), ":9:") {
		t.Errorf("a Windows or redirected module failed to load:\n%v", err)
	}
}

// ansible-core's own routing takes short names of modules that moved to
// collections there (win_copy to ansible.windows.win_copy); a Windows
// module (a .ps1, whose .py is only documentation) loads for the role's
// Windows branch, to fail on a host that reaches it.
func TestPythonModulesBuiltinRouting(t *testing.T) {
	core := write(t, map[string]string{
		"lib/python3.11/site-packages/ansible/module_utils/basic.py": "# basic\n",
		"lib/python3.11/site-packages/ansible/config/ansible_builtin_runtime.yml": `plugin_routing:
  modules:
    win_copy: {redirect: acme.windows.win_copy}
    old_widget: {redirect: acme.tools.widget}
`,
	})
	t.Setenv("VIRTUAL_ENV", core)
	colls := write(t, map[string]string{
		"ansible_collections/acme/windows/plugins/modules/win_copy.py":  "DOCUMENTATION = ''\n",
		"ansible_collections/acme/windows/plugins/modules/win_copy.ps1": "#AnsibleRequires -CSharpUtil Ansible.Basic\n",
		"ansible_collections/acme/tools/plugins/modules/widget.py":      pyModule,
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", colls)
	dir := write(t, map[string]string{"pb.yml": `- hosts: all
  tasks:
    - win_copy: {src: a, dest: 'C:\x'}
      when: ansible_os_family == "Windows"
    - old_widget: {}
`})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tasks := pb.Plays[0].Tasks
	if s := tasks[0].Spec; !strings.HasPrefix(s.Summary, "Windows (PowerShell) module "+filepath.Join(colls, "ansible_collections/acme/windows/plugins/modules/win_copy.ps1")) {
		t.Errorf("win_copy: %s", s.Summary)
	}
	if s := tasks[1].Spec; !strings.Contains(s.Summary, "acme/tools/plugins/modules/widget.py") {
		t.Errorf("old_widget: %s", s.Summary)
	}
}

// kubernetes.core's action plugin, over SSH, hands the module its arguments
// as they are but for template, which it renders on the controller: the
// module loads, and a task giving template is refused before any host.
func TestPythonModulesPassThroughActionPlugin(t *testing.T) {
	fakeCore(t)
	colls := write(t, map[string]string{
		"ansible_collections/kubernetes/core/plugins/modules/helm.py": pyModule,
		"ansible_collections/kubernetes/core/plugins/action/helm.py":  "# controller side\n",
		"ansible_collections/kubernetes/core/plugins/modules/k8s.py":  pyModule,
		"ansible_collections/kubernetes/core/plugins/action/k8s.py":   "# controller side\n",
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", colls)
	dir := write(t, map[string]string{"pb.yml": `- hosts: all
  tasks:
    - kubernetes.core.helm: {name: x, chart_ref: y, release_namespace: z}
    - kubernetes.core.k8s: {template: deploy.j2}
`})
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	want := "pb.yml:4 (task \"kubernetes.core.k8s\"): module kubernetes.core.k8s: template is read on the controller by the collection's action plugin"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), ":3:") {
		t.Fatalf("err = %v\nwant only %q", err, want)
	}
}

// A task file that include_tasks itself (a retry loop its own when ends,
// as kubespray's calico update-node.yml) loads: the next level is read when
// it runs, as ansible-core reads every include_tasks. import_tasks of
// itself stays a load error.
func TestSelfInclude(t *testing.T) {
	dir := write(t, map[string]string{
		"pb.yml":    "- hosts: all\n  tasks:\n    - include_tasks: retry.yml\n",
		"retry.yml": "- debug: msg=try\n- include_tasks: retry.yml\n  when: n | int < 3\n",
		"pb2.yml":   "- hosts: all\n  tasks:\n    - import_tasks: loop.yml\n",
		"loop.yml":  "- import_tasks: loop.yml\n",
	})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	inner := pb.Plays[0].Tasks[0].Include[1]
	if inner.IncludeFile != filepath.Join(dir, "retry.yml") || len(inner.Include) != 0 {
		t.Errorf("self include: file %q, %d tasks; want it read at run time", inner.IncludeFile, len(inner.Include))
	}
	if _, err := (&Loader{}).Load(filepath.Join(dir, "pb2.yml")); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("import cycle: %v", err)
	}
}
