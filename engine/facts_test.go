package engine_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/facts"
)

// Playbooks written for Ansible read facts under both spellings: the
// ansible_ variables and the un-prefixed keys of the ansible_facts dict.
func TestAnsibleFactNamesInTemplates(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  tasks:
    - etest_file:
        path: "` + dir + `/out"
        content: "{{ ansible_facts['distribution'] }}|{{ ansible_facts.os_family }}|{{ ansible_distribution }}|{{ ansible_facts.nodename }}|{{ ansible_user_dir }}"
`
	if _, _, err := run(t, pb, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	osr, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Skip("no /etc/os-release here")
	}
	o := facts.ParseOSRelease(string(osr))
	hn, _ := os.Hostname()
	home, _ := os.UserHomeDir()
	want := strings.Join([]string{o.Distribution(), o.Family(), o.Distribution(), hn, home}, "|")
	if string(got) != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
}
