package generic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

const helloScript = "#!/bin/sh\necho \"hello $1 $2\"\necho oops >&2\n[ -n \"$3\" ] && touch \"$3\"\nexit 0\n"

// scriptDir is a playbook directory holding files/hello.sh.
func scriptDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "files", "hello.sh"), helloScript, 0o644)
	return dir
}

func leftScripts(*testing.T) []string {
	m, _ := filepath.Glob("/tmp/.gpuctl-script-*")
	return m
}

// Same rc, stdout and stderr as ansible.builtin.script, found in files/
// beside the playbook, arguments through the shell, nothing left behind.
func TestScriptLikeAnsible(t *testing.T) {
	dir := scriptDir(t)
	before := len(leftScripts(t))
	want := ansibletest.Run(t, "script", map[string]any{"cmd": filepath.Join(dir, "files", "hello.sh") + " 'big world' x"}, false)
	h := moduletest.Local()
	h.V["playbook_dir"] = dir
	m := moduletest.New(t, "script", map[string]any{"cmd": "hello.sh 'big world' x"})
	d, err := m.Check(context.Background(), h)
	if err == nil {
		err = m.Apply(context.Background(), h, d)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := moduletest.Result(m)
	for _, k := range []string{"rc", "stdout", "stderr"} {
		if strings.TrimSpace(asString(got[k])) != strings.TrimSpace(asString(want[k])) {
			t.Errorf("%s: gpuctl %q, ansible %q", k, got[k], want[k])
		}
	}
	if n := len(leftScripts(t)); n != before {
		t.Errorf("%d scripts left in /tmp", n-before)
	}
}

func asString(v any) string {
	if v == nil {
		return ""
	}
	return strings.ReplaceAll(fmt.Sprint(v), "\r", "")
}

func TestScriptHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.V["playbook_dir"] = scriptDir(t)
	args := map[string]any{"cmd": "hello.sh a b /etc/hello-done", "creates": "/etc/hello-done"}
	r.Timeline(t, "script", args, "/etc/hello-done")
	if got := r.Run(t, "ls /etc/hello-done; ls /tmp/.gpuctl-script-* 2>/dev/null | wc -l"); got != "/etc/hello-done\n0" {
		t.Errorf("host: %q", got)
	}
	// executable runs a script that is not executable itself, by name
	_, res, err := r.Apply(t, "script", map[string]any{"cmd": "hello.sh c", "executable": "/bin/sh"})
	if err != nil || strings.TrimSpace(asString(res["stdout"])) != "hello c" {
		t.Errorf("executable: %v %v", err, res)
	}
	// a failing script fails the task with its rc, and is removed all the same
	write(t, filepath.Join(r.V["playbook_dir"].(string), "files", "fail.sh"), "#!/bin/sh\necho bad >&2\nexit 3\n", 0o755)
	if _, res, err := r.Apply(t, "script", map[string]any{"cmd": "fail.sh"}); err == nil || res["rc"] != 3 {
		t.Errorf("failing script: %v %v", err, res)
	}
	if got := r.Run(t, "ls /tmp/.gpuctl-script-* 2>/dev/null | wc -l"); got != "0" {
		t.Errorf("scripts left on the host: %s", got)
	}
}

func TestScriptBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "script", map[string]any{"cmd": "  "}, "cmd is empty")
	moduletest.BadArgs(t, "script", map[string]any{"cmd": "x.sh", "chdir": "rel"}, "must be an absolute path")
	h := moduletest.Local()
	h.V["playbook_dir"] = t.TempDir()
	if _, err := moduletest.New(t, "script", map[string]any{"cmd": "missing.sh"}).Check(context.Background(), h); err == nil || !strings.Contains(err.Error(), "not found on the controller") {
		t.Errorf("missing script: %v", err)
	}
}
