package engine_test

import (
	"os"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
)

// A template inside a dictionary or list variable is rendered when read, as
// Ansible's lazy templating does: a role parameter
// `debian: {apt_key_url: "{{ corpus_repo }}key.asc"}` read as
// "{{ debian.apt_key_url }}" gives the URL, not the inner template.
func TestNestedTemplatesInVars(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  vars:
    base: http://repo/
    debian: {apt_key_url: "{{ base }}key.asc", list: ["{{ base }}a", 1]}
  tasks:
    - etest_file: {path: "` + dir + `/out.txt", content: "{{ debian.apt_key_url }} {{ debian.list[0] }} {{ debian.list[1] }}"}
`
	if _, _, err := run(t, pb, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dir + "/out.txt"); err != nil || string(b) != "http://repo/key.asc http://repo/a 1" {
		t.Errorf("got %q %v", b, err)
	}
}
