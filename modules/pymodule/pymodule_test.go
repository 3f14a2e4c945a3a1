package pymodule

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// writeTree writes files (relative path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func zipNames(t *testing.T, b []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name)
	}
	return out
}

// A collection module's bundle holds ansible-core's module_utils, its own
// collection's module_utils, those of the collections they import (and
// no other), the module under its Python name, and an __init__.py for
// every package; the same inputs give the same bytes.
func TestBundleContents(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"core/ansible/module_utils/basic.py":              "# basic\n",
		"core/ansible/module_utils/common/text.py":        "# text\n",
		"core/ansible/module_utils/__pycache__/basic.pyc": "junk",
		"ac/acme/tools/plugins/modules/widget.py":         "from ..module_utils.helper import x\n",
		"ac/acme/tools/plugins/module_utils/helper.py":    "from ansible_collections.acme.base.plugins.module_utils.net import y\n",
		"ac/acme/base/plugins/module_utils/net.py":        "# net\n",
		"ac/other/unused/plugins/module_utils/never.py":   "# not imported\n",
		"ac/acme/tools/plugins/modules/other_module.py":   "# another module\n",
	})
	mk := func() *Source {
		return &Source{Path: filepath.Join(dir, "ac/acme/tools/plugins/modules/widget.py"),
			Collection: "acme.tools", CollectionsRoot: filepath.Join(dir, "ac"), Core: filepath.Join(dir, "core/ansible")}
	}
	b1, sha1, err := mk().Bundle()
	if err != nil {
		t.Fatal(err)
	}
	b2, sha2, _ := mk().Bundle()
	if sha1 != sha2 || !bytes.Equal(b1, b2) {
		t.Errorf("two bundles of the same module differ: %s, %s", sha1, sha2)
	}
	names := zipNames(t, b1)
	for _, want := range []string{
		"__main__.py",
		"ansible/__init__.py",
		"ansible/module_utils/__init__.py",
		"ansible/module_utils/basic.py",
		"ansible/module_utils/common/__init__.py",
		"ansible/module_utils/common/text.py",
		"ansible_collections/__init__.py",
		"ansible_collections/acme/tools/plugins/modules/widget.py",
		"ansible_collections/acme/tools/plugins/modules/__init__.py",
		"ansible_collections/acme/tools/plugins/module_utils/helper.py",
		"ansible_collections/acme/base/plugins/module_utils/net.py",
		"ansible_collections/acme/base/plugins/module_utils/__init__.py",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("bundle lacks %s; has %v", want, names)
		}
	}
	for _, name := range names {
		if strings.Contains(name, "__pycache__") || strings.Contains(name, "unused") || strings.Contains(name, "other_module") {
			t.Errorf("bundle holds %s, which the module does not need", name)
		}
	}
	zr, _ := zip.NewReader(bytes.NewReader(b1), int64(len(b1)))
	for _, f := range zr.File {
		if f.Name == "__main__.py" {
			rc, _ := f.Open()
			main, _ := io.ReadAll(rc)
			if !strings.Contains(string(main), `"ansible_collections.acme.tools.plugins.modules.widget"`) {
				t.Errorf("__main__.py does not run the module:\n%s", main)
			}
		}
	}
}

// A library/ module imports custom module_utils as ansible.module_utils.x.
func TestBundleLibraryModuleUtils(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"core/ansible/module_utils/basic.py": "# basic\n",
		"proj/library/kube.py":               "from ansible.module_utils.kubeutil import k\n",
		"proj/module_utils/kubeutil.py":      "k = 1\n",
	})
	s := &Source{Path: filepath.Join(dir, "proj/library/kube.py"), Core: filepath.Join(dir, "core/ansible"),
		ModuleUtils: []string{filepath.Join(dir, "proj/module_utils")}}
	b, _, err := s.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	names := zipNames(t, b)
	for _, want := range []string{"ansible/legacy/kube.py", "ansible/module_utils/kubeutil.py", "ansible/legacy/__init__.py"} {
		if !slices.Contains(names, want) {
			t.Errorf("bundle lacks %s; has %v", want, names)
		}
	}
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"new.py":     "#!/usr/bin/python\nfrom ansible.module_utils.basic import AnsibleModule\n",
		"coll.py":    "from ansible_collections.a.b.plugins.module_utils.x import y\n",
		"rel.py":     "from ..module_utils.x import y\n",
		"old.py":     "#!/usr/bin/python\n# WANT_JSON\nimport json\n",
		"win.ps1":    "#Requires -Module Ansible.ModuleUtils.Legacy\n",
		"binary.bin": "\x7fELF\x00\x00\x01",
	})
	for name, want := range map[string]string{
		"new.py": "", "coll.py": "", "rel.py": "",
		"old.py":     "old-style or WANT_JSON",
		"win.ps1":    "PowerShell",
		"binary.bin": "binary module",
	} {
		err := CheckFile(filepath.Join(dir, name))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	out, err := decodeReply("some warning printed by a library\n{\"changed\": true, \"n\": 3, \"f\": 1.5, \"l\": [1, {\"x\": 2}]}\ntrailing junk\n")
	if err != nil {
		t.Fatal(err)
	}
	if out["changed"] != true || out["n"] != 3 || out["f"] != 1.5 {
		t.Errorf("decoded %#v", out)
	}
	if l := out["l"].([]any); l[0] != 1 || l[1].(map[string]any)["x"] != 2 {
		t.Errorf("nested numbers: %#v", l)
	}
	if _, err := decodeReply("Traceback (most recent call last):\n  ImportError\n"); err == nil {
		t.Error("a traceback decoded as a reply")
	}
}

func TestFailureAndChanges(t *testing.T) {
	if err := failure(map[string]any{"failed": true, "msg": "non-zero return code", "stderr": "E: Unable to locate package nope"}); err == nil ||
		err.Error() != "non-zero return code: E: Unable to locate package nope" {
		t.Errorf("failure: %v", err)
	}
	if err := failure(map[string]any{"changed": true}); err != nil {
		t.Errorf("not failed: %v", err)
	}
	got := changesOf("m", map[string]any{"diff": []any{
		map[string]any{"before": "a\n", "after": "b\n", "after_header": "/etc/x"},
		map[string]any{"before": map[string]any{"k": 1}, "after": map[string]any{"k": 2}},
		map[string]any{"prepared": "+ line"},
		map[string]any{"before": "same", "after": "same"},
	}})
	want := []plan.Change{
		{Resource: "module:m:/etc/x", Action: plan.Update, Before: "a\n", After: "b\n", Content: true},
		{Resource: "module:m", Action: plan.Update, Before: "{\n    \"k\": 1\n}\n", After: "{\n    \"k\": 2\n}\n", Content: true},
		{Resource: "module:m", Action: plan.Update, After: "+ line"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n got %#v\nwant %#v", got, want)
	}
	if got := changesOf("m", map[string]any{"changed": true, "msg": "user added"}); len(got) != 1 || got[0].After != "user added" {
		t.Errorf("changed without a diff: %#v", got)
	}
}

// The boot script, run by this machine's python3 through the same shell
// line the host gets: a first run asks for the bundle, put stores it
// verified, a run then executes it with the arguments on stdin, and a
// damaged bundle is refused.
func TestBootProtocol(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 on this machine")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"core/ansible/module_utils/basic.py": "",
		"lib/echo.py": "import json, sys\n" +
			"args = json.load(sys.stdin)['ANSIBLE_MODULE_ARGS']\n" +
			"print('noise before the reply')\n" +
			"print(json.dumps({'changed': False, 'got': args['word'], 'check': args['_ansible_check_mode']}))\n",
	})
	s := &Source{Path: filepath.Join(dir, "lib/echo.py"), Core: filepath.Join(dir, "core/ansible")}
	bundle, sha, err := s.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	t.Cleanup(func() { os.RemoveAll(filepath.Join(home, ".ansible", "tmp", "gpuctl", sha)) })
	sh := func(op string, stdin []byte) conn.Result {
		cmd := exec.Command("/bin/sh", "-c", bootLine([]string{"/nonexistent/python3", "python3"}, op, sha))
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		rc := 0
		if ee, ok := err.(*exec.ExitError); ok {
			rc = ee.ExitCode()
		}
		return conn.Result{Stdout: out.String(), Stderr: errb.String(), ExitCode: rc}
	}
	args := []byte(`{"ANSIBLE_MODULE_ARGS": {"word": "hi", "_ansible_check_mode": true}}`)
	os.RemoveAll(filepath.Join(home, ".ansible", "tmp", "gpuctl", sha))
	if r := sh("run", args); r.ExitCode != needBundle || !strings.Contains(r.Stdout, needBundleMark) {
		t.Fatalf("first run: %+v, want the bundle asked for", r)
	}
	if r := sh("put", append(slices.Clone(bundle[:len(bundle)-1]), 'x')); r.ExitCode == 0 || !strings.Contains(r.Stderr, "damaged") {
		t.Errorf("damaged bundle: %+v", r)
	}
	if r := sh("put", bundle); r.ExitCode != 0 {
		t.Fatalf("put: %+v", r)
	}
	st, err := os.Stat(filepath.Join(home, ".ansible", "tmp", "gpuctl"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("bundle directory: %v %v, want mode 0700", st.Mode(), err)
	}
	r := sh("run", args)
	out, err := decodeReply(r.Stdout)
	if err != nil || out["got"] != "hi" || out["check"] != true {
		t.Errorf("run: %+v → %v %v", r, out, err)
	}
	if r := exec.Command("/bin/sh", "-c", bootLine([]string{"/nonexistent/python"}, "run", sha)); r != nil {
		err := r.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != noPython {
			t.Errorf("no interpreter: %v, want exit %d", err, noPython)
		}
	}
}
