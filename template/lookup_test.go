package template

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestLookups(t *testing.T) {
	dir, err := filepath.Abs("testdata/lookup")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GPUCTL_LOOKUP_TEST", "from-env")
	vars := map[string]any{"playbook_dir": dir, "pkgs": []any{"a", "b"}, "conf": map[string]any{"x": 1}}
	e := New()
	cases := map[string]any{
		"lookup('env', 'GPUCTL_LOOKUP_TEST')":                    "from-env",
		"lookup('ansible.builtin.env', 'GPUCTL_LOOKUP_TEST')":    "from-env",
		"lookup('vars', 'pkgs')":                                 []any{"a", "b"},
		"lookup('file', 'greeting.txt')":                         "hello file",
		"query('fileglob', '*.conf')":                            []any{filepath.Join(dir, "files", "one.conf"), filepath.Join(dir, "files", "two.conf")},
		"lookup('fileglob', '*.conf')":                           filepath.Join(dir, "files", "one.conf") + "," + filepath.Join(dir, "files", "two.conf"),
		"lookup('first_found', ['missing.txt', 'greeting.txt'])": filepath.Join(dir, "files", "greeting.txt"),
		"query('first_found', ['missing.txt'], skip=true)":       []any{},
		"lookup('pipe', 'echo hi; echo there')":                  "hi,there",
		"query('lines', 'printf \"1\\n2\\n\"')":                  []any{"1", "2"},
		"q('items', [1, [2, 3]])":                                []any{1, 2, 3},
		"query('dict', conf)":                                    []any{map[string]any{"key": "x", "value": 1}},
		"lookup('list', 'a', 'b', wantlist=true)":                []any{"a", "b"},
	}
	for in, want := range cases {
		got, err := e.Eval(in, vars)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", in, got, want)
		}
	}

	for _, bad := range []string{"lookup('nope', 'x')", "lookup('file', 'absent.txt')", "lookup('first_found', ['absent'])"} {
		if _, err := e.Eval(bad, vars); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
