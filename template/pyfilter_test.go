package template

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 on this machine")
	}
}

// A filter_plugins/ filter, found by the resolver at Unknown (load) and
// then run by the controller's python3 with positional and keyword
// arguments; its exception is the template's error.
func TestPythonFilterPlugins(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	src := `class FilterModule(object):
    def filters(self):
        return {'shout': shout, 'boom': boom}

def shout(value, times=1, sep=' '):
    return sep.join([value.upper()] * times)

def boom(value):
    raise ValueError('no %s here' % value)
`
	if err := os.WriteFile(filepath.Join(dir, "words.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e := New()
	e.FilterResolver = func(name string) (PythonFilter, bool) { return FindPythonFilter(name, nil, []string{dir}) }
	for _, s := range []string{"{{ x | shout(2, sep='-') }}", "{{ x | boom }}"} {
		if err := e.Unknown(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := e.Unknown("{{ x | nosuchfilter }}"); err == nil || !strings.Contains(err.Error(), `unknown filter "nosuchfilter"`) {
		t.Errorf("unknown filter: %v", err)
	}
	got, err := e.Render("{{ x | shout(2, sep='-') }}", map[string]any{"x": "hi"})
	if err != nil || got != "HI-HI" {
		t.Errorf("shout: %#v %v", got, err)
	}
	if _, err := e.Render("{{ x | boom }}", map[string]any{"x": "gold"}); err == nil || !strings.Contains(err.Error(), "ValueError: no gold here") {
		t.Errorf("boom: %v", err)
	}
	if fs := e.PythonFilters(); len(fs) != 2 {
		t.Errorf("PythonFilters: %+v", fs)
	}
}

// A collection's filter by its FQCN: community.sops._latest_version from
// Debian's ansible package, unchanged.
func TestPythonFilterCollection(t *testing.T) {
	needPython(t)
	root := "/usr/lib/python3/dist-packages/ansible_collections"
	if _, err := os.Stat(filepath.Join(root, "community/sops/plugins/filter/_latest_version.py")); err != nil {
		if os.Getenv("GPUCTL_TEST_HOSTS") == "require" {
			t.Fatal("Debian's ansible package is not installed (GPUCTL_TEST_HOSTS=require)")
		}
		t.Skip("Debian's ansible package is not installed")
	}
	e := New()
	for _, f := range CollectionFilters(root, "community", "sops") {
		if err := e.AddPythonFilter(f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.Render("{{ (['1.2.0', '1.10.0', '1.9.1'] | community.sops._latest_version) if n == 200 else '' }}", map[string]any{"n": 200})
	if err != nil || got != "1.10.0" {
		t.Errorf("_latest_version: %#v %v", got, err)
	}
}
