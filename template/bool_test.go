package template

import "testing"

// The bool filter is ansible-core's to_bool, not Python truthiness: only
// yes/on/1/true (any case) and the number 1 are true, so a non-empty list or
// an arbitrary string is false (community.mongodb's mongodb_linux computes
// in_docker with `[...] | intersect(...) | bool`, false in Ansible).
func TestBoolFilterIsAnsibles(t *testing.T) {
	vars := map[string]any{"tech": []any{"container", "systemd-nspawn"}, "flag": true, "off": false, "none": nil}
	for expr, want := range map[string]bool{
		"['container'] | intersect(tech) | bool": false,
		"tech | bool":                            false,
		"{'a': 1} | bool":                        false,
		"'yes' | bool":                           true,
		"'On' | bool":                            true,
		"'TRUE' | bool":                          true,
		"'1' | bool":                             true,
		"1 | bool":                               true,
		"1.0 | bool":                             true,
		"2 | bool":                               false,
		"0 | bool":                               false,
		"'y' | bool":                             false,
		"'abc' | bool":                           false,
		"'no' | bool":                            false,
		"'' | bool":                              false,
		"flag | bool":                            true,
		"off | bool":                             false,
	} {
		got, err := New().Eval(expr, vars)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
}
