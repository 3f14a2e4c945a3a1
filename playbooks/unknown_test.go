package playbooks

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// An unknown filter, test or lookup is a load error naming file:line, all
// of them at once, with a suggestion only for a close spelling.
func TestUnknownPluginsAtLoad(t *testing.T) {
	dir := write(t, map[string]string{"site.yaml": `- hosts: all
  tasks:
    - ptest: {path: "{{ x | to_jsn }}"}
    - ptest: {path: /a}
      when: x is versoin('1', '<')
    - ptest: {path: "{{ item }}"}
      loop: "{{ lookup('hashi_vault', 'k') }}"
    - ptest: {path: "{{ x | to_json }}"}
`})
	_, err := (&Loader{}).Load(filepath.Join(dir, "site.yaml"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`site.yaml:3 (task "ptest"): template "{{ x | to_jsn }}": unknown filter "to_jsn" (did you mean "to_json"?)`,
		`site.yaml:4 (task "ptest"): condition "x is versoin('1', '<')": unknown test "versoin" (did you mean "version"?)`,
		`site.yaml:6 (task "ptest"): template "{{ lookup('hashi_vault', 'k') }}": unknown lookup plugin "hashi_vault"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hashi_vault\" (did you mean") || strings.Count(msg, "unknown") != 3 {
		t.Errorf("unexpected suggestion or count:\n%s", msg)
	}
}
