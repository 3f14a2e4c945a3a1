package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
)

// The registered results of assert, as ansible-core 2.14 registered them
// for the same tasks: quiet keeps msg, a failure names the assertion that
// was false and what it evaluated to.
func TestAssertResultsLikeAnsible(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - assert: {that: "1 == 1", quiet: true}
      register: a1
    - assert: {that: ["1 == 1"], success_msg: "yay"}
      register: a2
    - assert: {that: ["1 == 1", "1 == 2"], fail_msg: "nope"}
      register: a3
      ignore_errors: true
    - assert: {that: ["1 == 2"]}
      register: a4
      ignore_errors: true
    - copy:
        dest: ` + dir + `/as.out
        content: "{{ [a1.msg, a2.msg, a3.assertion, a3.evaluated_to, a4.assertion, a4.failed] | to_json }}"
`
	if _, _, err := run(t, pb, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "as.out"))
	// ansible-core 2.14: [{"msg": "All assertions passed"}, {"msg": "yay"},
	// {"assertion": "1 == 2", "evaluated_to": false, "msg": "nope"}, ...]
	want := `["All assertions passed", "yay", "1 == 2", false, "1 == 2", true]`
	if !sameJSON(got, []byte(want)) {
		t.Errorf("got %s, want %s", got, want)
	}
}
