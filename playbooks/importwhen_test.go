package playbooks

import (
	"path/filepath"
	"slices"
	"testing"
)

// import_playbook's when goes before each top-level task's own conditions
// (pre_tasks, roles, tasks, post_tasks; not handlers) and on fact
// gathering, as ansible-core's PlaybookInclude puts it (compared by hand
// with ansible-playbook 2.14: the same tasks skip). A templated serial is
// rendered with the play's vars and extra vars (kubespray's upgrade play).
func TestImportPlaybookWhen(t *testing.T) {
	dir := write(t, map[string]string{
		"site.yml": "- import_playbook: inner.yml\n  when: run_inner | bool\n",
		"inner.yml": `- hosts: all
  vars: {batch: 2}
  serial: "{{ batch }}"
  pre_tasks: [{debug: {msg: pre}}]
  roles: [r]
  tasks:
    - debug: {msg: t}
      when: x
  post_tasks: [{debug: {msg: post}}]
  handlers: [{name: h, debug: {msg: h}}]
`,
		"roles/r/tasks/main.yml": "- debug: {msg: role}\n",
	})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "site.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	for _, tk := range slices.Concat(p.PreTasks, p.Roles, p.PostTasks) {
		if !slices.Equal(tk.When, []string{"run_inner | bool"}) {
			t.Errorf("%s: when %q", tk.Where(), tk.When)
		}
	}
	if w := p.Tasks[0].When; !slices.Equal(w, []string{"run_inner | bool", "x"}) {
		t.Errorf("task: when %q", w)
	}
	if len(p.Handlers[0].When) != 0 || !slices.Equal(p.GatherWhen, []string{"run_inner | bool"}) {
		t.Errorf("handler when %q, gather when %q", p.Handlers[0].When, p.GatherWhen)
	}
	if !slices.Equal(p.Serial, []string{"2"}) {
		t.Errorf("serial %+v, want 2", p.Serial)
	}
}
