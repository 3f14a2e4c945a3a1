package engine_test

import (
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
