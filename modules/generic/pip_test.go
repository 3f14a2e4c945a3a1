package generic_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// demoWheel is a pure-Python wheel of package gpuctl-demo, made here: the
// test hosts reach no package index.
func demoWheel(t *testing.T, version string) (string, []byte) {
	t.Helper()
	info := "gpuctl_demo-" + version + ".dist-info/"
	files := []struct{ name, body string }{
		{"gpuctl_demo/__init__.py", fmt.Sprintf("__version__ = %q\n", version)},
		{info + "METADATA", "Metadata-Version: 2.1\nName: gpuctl-demo\nVersion: " + version + "\nSummary: gpuctl's pip test package\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: gpuctl-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.body))
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	record.WriteString(info + "RECORD,,\n")
	w, _ := zw.Create(info + "RECORD")
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return "gpuctl_demo-" + version + "-py3-none-any.whl", buf.Bytes()
}

// On a real host with Debian's python3-venv: a virtualenv made with
// `python3 -m venv`, packages from a local wheel directory, the timeline for
// install, upgrade by specifier, latest and removal.
func TestPipHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "apt-get install -y -q python3-venv >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null)")
	ctx := context.Background()
	r.Run(t, "mkdir -p /srv/wheels")
	for _, v := range []string{"1.0", "2.0"} {
		name, data := demoWheel(t, v)
		if err := r.C.WriteFile(ctx, "/srv/wheels/"+name, data, conn.FileAttrs{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	venv := map[string]any{"virtualenv": "/opt/demo/venv", "virtualenv_command": "python3 -m venv",
		"extra_args": "--no-index --find-links=/srv/wheels"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range venv {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	version := func() string {
		return r.Run(t, "/opt/demo/venv/bin/python -c 'import gpuctl_demo; print(gpuctl_demo.__version__)'")
	}

	d := r.Timeline(t, "ansible.builtin.pip", with("name", "gpuctl-demo==1.0"), "/opt")
	if s := moduletest.Describe(d); !strings.Contains(s, "virtualenv:/opt/demo/venv") || !strings.Contains(s, "pip:gpuctl-demo==1.0") {
		t.Errorf("diff:\n%s", s)
	}
	if v := version(); v != "1.0" {
		t.Errorf("installed %s", v)
	}
	// pip's own configuration instead of extra_args: the check reads pip's list.
	r.Run(t, "printf '[global]\\nno-index = true\\nfind-links = /srv/wheels\\n' > /etc/pip.conf")
	plain := map[string]any{"virtualenv": "/opt/demo/venv", "name": []string{"gpuctl-demo>=1.5", "<3"}}
	r.NoChange(t, "pip", map[string]any{"virtualenv": "/opt/demo/venv", "name": "gpuctl_demo"})
	d = r.Timeline(t, "pip", plain, "/opt")
	if s := moduletest.Describe(d); !strings.Contains(s, "1.0") || !strings.Contains(s, "gpuctl-demo>=1.5,<3") {
		t.Errorf("diff:\n%s", s)
	}
	if v := version(); v != "2.0" {
		t.Errorf("installed %s", v)
	}
	r.Timeline(t, "pip", map[string]any{"virtualenv": "/opt/demo/venv", "name": "gpuctl-demo", "version": "1.0"}, "/opt")
	d = r.Timeline(t, "pip", map[string]any{"virtualenv": "/opt/demo/venv", "name": "gpuctl-demo", "state": "latest"}, "/opt")
	if s := moduletest.Describe(d); !strings.Contains(s, "2.0") {
		t.Errorf("latest diff:\n%s", s)
	}
	r.Timeline(t, "pip", map[string]any{"virtualenv": "/opt/demo/venv", "name": "gpuctl-demo", "state": "absent"}, "/opt")
	if out, err := r.TH.Output("root", "/opt/demo/venv/bin/python -c 'import gpuctl_demo'"); err == nil {
		t.Errorf("still importable: %s", out)
	}
	t.Run("requirements", func(t *testing.T) {
		r.Run(t, "printf 'gpuctl-demo==2.0\\n' > /opt/demo/requirements.txt")
		r.Timeline(t, "pip", map[string]any{"virtualenv": "venv", "chdir": "/opt/demo", "requirements": "requirements.txt"}, "/opt")
		if v := version(); v != "2.0" {
			t.Errorf("installed %s", v)
		}
	})
	t.Run("errors name the command", func(t *testing.T) {
		_, _, err := r.Apply(t, "pip", map[string]any{"virtualenv": "/opt/demo/venv", "name": "no-such-package"})
		if err == nil || !strings.Contains(err.Error(), "no-such-package") {
			t.Errorf("apply: %v", err)
		}
		_, err = r.CheckOnly(t, "pip", map[string]any{"executable": "pip9", "name": "x"})
		if err == nil || !strings.Contains(err.Error(), "Unable to find any of pip9") {
			t.Errorf("check: %v", err)
		}
	})
}

func TestPipBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "pip", map[string]any{}, "one of the following is required: name, requirements")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "requirements": "r.txt"}, "mutually exclusive: name|requirements")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "virtualenv": "/v", "executable": "pip3"}, "mutually exclusive: executable|virtualenv")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "version": "1", "state": "latest"}, "version is incompatible with state=latest")
	moduletest.BadArgs(t, "pip", map[string]any{"name": []string{"a", "b"}, "version": "1"}, "'version' argument is ambiguous")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a>=1", "version": "1"}, "conflicts with any version specifier")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "virtualenv": "/v", "virtualenv_command": "python3 -m venv", "virtualenv_python": "python3.11"}, "virtualenv_python should not be used")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "umask": "9"}, "umask must be an octal integer")
	moduletest.BadArgs(t, "pip", map[string]any{"name": "a", "state": "installed"}, "expected one of present, absent, latest, forcereinstall")
}

// ansible-core's pip and gpuctl on the same host, each in its own
// virtualenv: the same changed, in check mode and applied, step by step,
// and the same packages in the end.
func TestPipLikeAnsible(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "apt-get install -y -q python3-venv python3-pkg-resources >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3-venv python3-pkg-resources >/dev/null)")
	r.Run(t, "mkdir -p /srv/wheels && printf '[global]\\nno-index = true\\nfind-links = /srv/wheels\\n' > /etc/pip.conf")
	for _, v := range []string{"1.0", "2.0"} {
		name, data := demoWheel(t, v)
		if err := r.C.WriteFile(context.Background(), "/srv/wheels/"+name, data, conn.FileAttrs{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	target := ansibletest.Target{Addr: r.TH.Addr, Port: r.TH.Port, KeyFile: r.TH.KeyFile, KnownHostsFile: r.TH.KnownHostsFile}
	for i, step := range []map[string]any{
		{"name": "gpuctl-demo==1.0", "virtualenv_command": "python3 -m venv"},
		{"name": "gpuctl-demo==1.0"},
		{"name": []string{"gpuctl-demo>=1.5", "<3"}},
		{"name": "gpuctl_demo", "version": "2.0"},
		{"name": "gpuctl-demo", "state": "absent"},
		{"name": "gpuctl-demo", "state": "absent"},
	} {
		var changed, checked [2]bool
		var list [2]string
		for j, venv := range []string{"/opt/ansible/venv", "/opt/gpuctl/venv"} {
			args := map[string]any{"virtualenv": venv}
			for k, v := range step {
				args[k] = v
			}
			if j == 0 {
				checked[0] = ansibletest.RunOn(t, target, "ansible.builtin.pip", args, true)["changed"] == true
				res := ansibletest.RunOn(t, target, "ansible.builtin.pip", args, false)
				if res["failed"] == true {
					t.Fatalf("step %d: ansible: %v", i, res["msg"])
				}
				changed[0] = res["changed"] == true
			} else {
				d, err := r.CheckOnly(t, "pip", args)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				checked[1] = !d.Empty()
				d, _, err = r.Apply(t, "pip", args)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				changed[1] = !d.Empty()
			}
			list[j] = r.Run(t, venv+"/bin/pip list --format=freeze 2>/dev/null | grep -i demo || true")
		}
		if changed != [2]bool{changed[0], changed[0]} || checked != [2]bool{checked[0], checked[0]} || list[0] != list[1] {
			t.Errorf("step %d %v: ansible check %v changed %v %q; gpuctl check %v changed %v %q",
				i, step, checked[0], changed[0], list[0], checked[1], changed[1], list[1])
		}
	}
}
