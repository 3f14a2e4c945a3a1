package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// with_first_found takes ansible-core's terms: a list holding a
// {files: [...]} mapping (zabbix_web's include_vars), plain names, and
// mappings with skip; an include_vars task searches vars/ first, a template
// task templates/, any other files/, as ansible-core's task executor sets the
// lookup's subdir.
func TestWithFirstFoundLikeAnsible(t *testing.T) {
	role := t.TempDir()
	for _, f := range []string{"vars/Debian.yml", "templates/a.j2", "files/b.txt"} {
		if err := os.MkdirAll(filepath.Join(role, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(role, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]any{"role_path": role}
	for _, tc := range []struct {
		module string
		terms  any
		want   []any
		err    string
	}{
		{"include_vars", []any{map[string]any{"files": []any{"Debian-12.yml", "Debian.yml"}}}, []any{filepath.Join(role, "vars/Debian.yml")}, ""},
		{"ansible.builtin.include_vars", []any{"Debian-12.yml", "Debian.yml"}, []any{filepath.Join(role, "vars/Debian.yml")}, ""},
		{"template", []any{"a.j2"}, []any{filepath.Join(role, "templates/a.j2")}, ""},
		{"copy", []any{"b.txt"}, []any{filepath.Join(role, "files/b.txt")}, ""},
		{"include_vars", []any{map[string]any{"files": []any{"Debian-12.yml"}, "skip": true}}, []any{}, ""},
		{"include_vars", []any{map[string]any{"files": []any{"Debian-12.yml"}}}, nil, "no file found (tried " + filepath.Join(role, "vars/Debian-12.yml")},
	} {
		got, err := withItems("first_found", tc.terms, searchDirs(vars, lookupSubdir(tc.module)))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: error %v, want %q", tc.module, tc.terms, err, tc.err)
			}
		case err != nil || !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s %v = %v, %v; want %v", tc.module, tc.terms, got, err, tc.want)
		}
	}
}
