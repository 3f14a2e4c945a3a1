package generic_test

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
)

// Bad arguments must fail in modules.New, before any host is touched.
func TestBadArgs(t *testing.T) {
	tests := []struct {
		module string
		args   map[string]any
		want   string
	}{
		{"command", map[string]any{}, "exactly one of cmd"},
		{"command", map[string]any{"cmd": "echo 'oops"}, "unterminated quote"},
		{"command", map[string]any{"cmd": "ls", "argv": []any{"ls"}}, "exactly one of cmd"},
		{"command", map[string]any{"cmd": "ls", "chdir": "tmp"}, "absolute"},
		{"command", map[string]any{"cmd": "ls", "bogus": 1}, "bogus"},
		{"shell", map[string]any{}, "cmd"},
		{"shell", map[string]any{"cmd": "ls", "executable": "bash"}, "absolute"},
		{"copy", map[string]any{"dest": "/tmp/x"}, "exactly one of src and content"},
		{"copy", map[string]any{"content": "x", "src": "a", "dest": "/tmp/x"}, "exactly one of src and content"},
		{"copy", map[string]any{"content": "x", "dest": "relative"}, "absolute"},
		{"copy", map[string]any{"content": "x", "dest": "/tmp/x", "mode": "0999"}, "mode"},
		{"copy", map[string]any{"content": "x", "dest": "/tmp/x", "mode": "u=rwz"}, "mode"},
		{"copy", map[string]any{"content": "x", "dest": "/tmp/x", "validate": "visudo -c"}, "%s"},
		{"copy", map[string]any{"content": "x", "dest": "/tmp/x", "force": "maybe"}, "boolean"},
		{"file", map[string]any{"path": "/tmp/x", "state": "link"}, "needs src"},
		{"file", map[string]any{"path": "/tmp/x", "state": "folder"}, "expected one of"},
		{"file", map[string]any{"state": "directory"}, "path"},
		{"file", map[string]any{"path": "/tmp/x", "recurse": true}, "recurse needs state=directory"},
		{"file", map[string]any{"path": "/", "state": "absent"}, "refusing"},
		{"lineinfile", map[string]any{"path": "/tmp/x"}, "needs line"},
		{"lineinfile", map[string]any{"path": "/tmp/x", "state": "absent"}, "needs one of"},
		{"lineinfile", map[string]any{"path": "/tmp/x", "line": "a", "regexp": "("}, "regexp"},
		{"lineinfile", map[string]any{"path": "/tmp/x", "line": "a", "insertafter": "a", "insertbefore": "b"}, "mutually exclusive"},
		{"lineinfile", map[string]any{"path": "/tmp/x", "line": "a", "backrefs": true}, "backrefs needs regexp"},
		{"lineinfile", map[string]any{"path": "/tmp/x", "dest": "/tmp/y", "line": "a"}, "twice"},
		{"replace", map[string]any{"path": "/tmp/x"}, "regexp"},
		{"replace", map[string]any{"path": "/tmp/x", "regexp": "a(?=b"}, "regexp"},
		{"template", map[string]any{"src": "a.j2"}, "dest"},
		{"service", map[string]any{}, "at least one"},
		{"service", map[string]any{"name": "x", "state": "running"}, "expected one of"},
		{"service", map[string]any{"name": "x", "state": "started", "masked": true}, "masked"},
		{"service", map[string]any{"name": "x", "state": "started", "use": "openrc"}, "expected one of"},
		{"wait_for", map[string]any{"port": 22, "path": "/x"}, "mutually exclusive"},
		{"wait_for", map[string]any{"port": 70000}, "range"},
		{"wait_for", map[string]any{"path": "/x", "state": "absent", "search_regex": "a"}, "search_regex"},
		{"reboot", map[string]any{"reboot_timeout": 0}, "positive"},
		{"assert", map[string]any{}, "that"},
		{"debug", map[string]any{"msg": "a", "var": "b"}, "mutually exclusive"},
		{"set_fact", map[string]any{}, "at least one"},
		{"set_fact", map[string]any{"bad-name": 1}, "valid variable name"},
	}
	for _, tt := range tests {
		_, err := modules.New(tt.module, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s, %v) = %v; want error containing %q", tt.module, tt.args, err, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	m, err := modules.New("copy", map[string]any{"content": "", "dest": "/x", "mode": 420})
	if err != nil {
		t.Fatal(err)
	}
	c := m.(*generic.Copy)
	if c.Mode != "0644" || !c.Force || c.Content == nil || *c.Content != "" {
		t.Errorf("copy decoded as %+v", c)
	}
	m, err = modules.New("set_fact", map[string]any{"a": 1, "b": []any{"x"}, "cacheable": true})
	if err != nil {
		t.Fatal(err)
	}
	f := m.(*generic.SetFact)
	if len(f.SetFacts()) != 2 || f.SetFacts()["a"] != 1 || !f.Cacheable {
		t.Errorf("set_fact decoded as %+v", f)
	}
	m, err = modules.New("command", map[string]any{"cmd": `echo "a b" c`, "stdin_add_newline": false})
	if err != nil {
		t.Fatal(err)
	}
	if cm := m.(*generic.Command); cm.StdinAddNewline || !cm.StripEmptyEnds {
		t.Errorf("command decoded as %+v", cm)
	}
	if _, ok := modules.Lookup("systemd"); !ok {
		t.Error("systemd alias missing")
	}
}

// Every argument of every module is documented for `gpuctl doc`.
func TestDocumented(t *testing.T) {
	for _, info := range modules.All() {
		if info.Summary == "" || info.CheckMode == "" || info.Example == "" {
			t.Errorf("%s: Summary, CheckMode and Example are required", info.Name)
		}
		for _, a := range info.Args() {
			if a.Doc == "" {
				t.Errorf("%s: argument %s has no doc", info.Name, a.Name)
			}
		}
	}
}
