package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/playbooks"
)

// A misspelt meta action is a load error with the task's line; an
// include_vars file that is nowhere says where it was looked for.
func TestMetaAndIncludeVarsErrors(t *testing.T) {
	pbPath := filepath.Join(t.TempDir(), "pb.yaml")
	os.WriteFile(pbPath, []byte("- hosts: a\n  gather_facts: false\n  tasks:\n    - meta: flush_handler\n"), 0o644)
	_, err := (&playbooks.Loader{}).Load(pbPath)
	if err == nil || !strings.Contains(err.Error(), "pb.yaml:4") || !strings.Contains(err.Error(), "flush_handlers") {
		t.Fatalf("meta typo: %v", err)
	}
	_, _, err = run(t, "- hosts: a\n  gather_facts: false\n  tasks:\n    - include_vars: nowhere.yml\n", engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "could not find nowhere.yml") || !strings.Contains(err.Error(), "vars/nowhere.yml") {
		t.Fatalf("missing vars file: %v", err)
	}
}

// end_batch ends the batch it runs in; the next batch runs the play.
func TestMetaEndBatch(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - meta: end_batch
      when: inventory_hostname == 'a'
    - name: after
      etest_echo: {msg: x}
`
	_, rec, err := run(t, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.results(), "; ")
	if strings.Contains(got, "a after") || !strings.Contains(got, "b after ok") {
		t.Fatalf("results: %s", got)
	}
}

// include_tasks named by a fact: loaded per host after facts are gathered.
func TestIncludeTasksByFact(t *testing.T) {
	dir := t.TempDir()
	distro, err := os.ReadFile("/etc/os-release")
	if err != nil || !strings.Contains(string(distro), "ID=debian") {
		t.Skip("needs a Debian controller")
	}
	if err := os.WriteFile(filepath.Join(dir, "Debian.yml"), []byte("- name: from Debian.yml\n  etest_echo: {msg: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pb := "- hosts: a\n  tasks:\n    - include_tasks: \"" + dir + "/{{ ansible_distribution }}.yml\"\n"
	_, rec, err := run(t, pb, engine.Options{})
	if err != nil || !strings.Contains(strings.Join(rec.results(), ";"), "a from Debian.yml ok") {
		t.Fatalf("err = %v, results = %v", err, rec.results())
	}
}
