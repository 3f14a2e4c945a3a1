package engine_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/engine"
)

// retries, delay, ignore_errors and no_log may be templates, rendered per
// host after when (a skipped task's keywords are not rendered).
func TestTemplatedKeywords(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  vars: {ie: true, nl: "yes", n: 2, d: 1}
  tasks:
    - name: ignored
      etest_fail: {}
      ignore_errors: "{{ ie }}"
      no_log: "{{ nl }}"
    - name: retried
      etest_echo: {msg: x}
      register: w
      until: w.stdout == 'never'
      retries: "{{ n }}"
      delay: "{{ d }}"
      ignore_errors: "{{ ie }}"
    - name: skipped
      etest_echo: {msg: y}
      when: false
      retries: "{{ not_defined_anywhere }}"
`
	start := time.Now()
	recap, rec, err := run(t, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("took %v: want two delays of 1s between the 3 attempts (retries: 2)", took)
	}
	if c := recap.Hosts["a"]; c.Ignored != 2 || c.Skipped != 1 {
		t.Errorf("counts = %+v, want ignored=2 (fail, until never met) skipped=1", c)
	}
	for _, ev := range rec.events {
		if ev.Task == "ignored" && ev.Type == engine.EventTaskResult && strings.Contains(ev.Msg, "boom") {
			t.Errorf("no_log: \"{{ nl }}\" leaked %q", ev.Msg)
		}
	}
}

// A block passes ignore_errors and no_log, literal or templated, to the
// tasks inside it, as Ansible's blocks do.
func TestBlockKeywordsInherited(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  vars: {ie: true}
  tasks:
    - block:
        - name: templated
          etest_fail: {}
      ignore_errors: "{{ ie }}"
      no_log: "{{ ie }}"
    - block:
        - name: literal
          etest_fail: {}
      ignore_errors: true
    - name: reached
      etest_echo: {msg: x}
`
	recap, rec, err := run(t, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := recap.Hosts["a"]; c.Ignored != 2 || c.OK != 1 {
		t.Errorf("counts = %+v, want ignored=2 ok=1", c)
	}
	for _, ev := range rec.events {
		if ev.Task == "templated" && strings.Contains(ev.Msg, "boom") {
			t.Errorf("no_log from the block leaked %q", ev.Msg)
		}
	}
}

// check_mode may be a template (sops_install: check_mode: "{{ ... }}"),
// rendered per host; a block passes it, literal or templated, to its tasks.
func TestTemplatedCheckMode(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  vars: {dry: true, wet: false}
  tasks:
    - name: dry
      etest_file: {path: "` + dir + `/dry.txt", content: "x"}
      check_mode: "{{ dry }}"
    - name: wet
      etest_file: {path: "` + dir + `/wet.txt", content: "x"}
      check_mode: "{{ wet }}"
    - block:
        - name: literal block
          etest_file: {path: "` + dir + `/block.txt", content: "x"}
      check_mode: true
    - block:
        - name: templated block
          etest_file: {path: "` + dir + `/tblock.txt", content: "x"}
      check_mode: "{{ dry | bool }}"
`
	recap, _, err := run(t, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := recap.Hosts["a"]; c.Changed != 4 {
		t.Errorf("counts = %+v, want 4 changed (3 would change)", c)
	}
	for f, want := range map[string]bool{"dry.txt": false, "wet.txt": true, "block.txt": false, "tblock.txt": false} {
		if _, err := os.Stat(dir + "/" + f); (err == nil) != want {
			t.Errorf("%s written: %v, want %v", f, err == nil, want)
		}
	}
	// --check with check_mode: "{{ wet }}" (false) writes, as Ansible does.
	os.Remove(dir + "/wet.txt")
	if _, _, err := run(t, pb, engine.Options{Check: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/wet.txt"); err != nil {
		t.Errorf("check_mode false under --check did not apply: %v", err)
	}
}

// delegate_facts may be a template too, and a keyword rendered to omit
// keeps its default (sops_install: '{{ true if on_localhost else omit }}').
func TestTemplatedDelegateFactsAndOmit(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  vars: {yes_please: true, no_thanks: false}
  tasks:
    - set_fact: {joined_by: "{{ inventory_hostname }}"}
      delegate_to: b
      delegate_facts: "{{ true if yes_please else omit }}"
    - etest_file: {path: "` + dir + `/omit.txt", content: "x"}
      check_mode: "{{ true if no_thanks else omit }}"
- hosts: b
  gather_facts: false
  tasks:
    - etest_file: {path: "` + dir + `/b.txt", content: "{{ joined_by }}"}
`
	if _, _, err := run(t, pb, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dir + "/b.txt"); err != nil || string(b) != "a" {
		t.Errorf("delegated fact on b: %q %v", b, err)
	}
	if _, err := os.Stat(dir + "/omit.txt"); err != nil {
		t.Errorf("check_mode rendered to omit must keep the run's mode (apply): %v", err)
	}
}
