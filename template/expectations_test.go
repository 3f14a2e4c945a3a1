package template

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestAnsibleExpectations evaluates every expression of
// testdata/ansible_exprs.txt and compares the value with what ansible-core
// made of it (testdata/ansible_expected.json, written by
// testdata/gen-ansible-expected.sh with Debian's ansible-core).
func TestAnsibleExpectations(t *testing.T) {
	b, err := os.ReadFile("testdata/ansible_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Expr  string `json:"expr"`
		Value any    `json:"value"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	e := New()
	for _, c := range cases {
		// As recorded: inside {{ }} of a playbook string, where Ansible keeps a
		// literal's backslashes.
		got, err := e.eval(c.Expr, map[string]any{}, rawLiterals)
		if err != nil {
			t.Errorf("%s: %v", c.Expr, err)
			continue
		}
		// Through JSON, as Ansible's values came: tuples become lists,
		// numbers float64.
		j, err := json.Marshal(got)
		if err != nil {
			t.Errorf("%s: %v", c.Expr, err)
			continue
		}
		var norm any
		if err := json.Unmarshal(j, &norm); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(norm, c.Value) {
			t.Errorf("%s\n got  %s\n want %#v", c.Expr, j, c.Value)
		}
	}
}
