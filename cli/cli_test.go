package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/cli"
	"github.com/gpuctl/gpuctl/inventory"
	_ "github.com/gpuctl/gpuctl/modules/all"
)

func gpuctl(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	root := cli.NewRoot(context.Background(), cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, nil)
	root.SetArgs(args)
	err := root.Execute()
	code := 0
	var ee *cli.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.Code
		if ee.Err != nil {
			errb.WriteString(ee.Err.Error())
		}
	case err != nil:
		code = 1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// A run over the implicit localhost: detailed exit codes, -e forms, --diff,
// --output json, tags.
func TestRunLocal(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.txt")
	os.WriteFile(filepath.Join(dir, "vars.yaml"), []byte("greeting: hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pb.yaml"), []byte(`
- hosts: localhost
  gather_facts: false
  tasks:
    - copy: {dest: "`+target+`", content: "{{ greeting }} {{ who }}\n"}
      tags: [write]
    - debug: {msg: "skipped by tags"}
      tags: [other]
`), 0o644)
	args := []string{"run", "pb.yaml", "-e", "@vars.yaml", "-e", "who=world", "--detailed-exitcode"}
	out, stderr, code := gpuctl(t, dir, append(args, "--check", "--diff")...)
	if code != 2 || !strings.Contains(out, "+hello world") {
		t.Fatalf("check: code %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("check mode wrote the file")
	}
	if _, _, code = gpuctl(t, dir, append(args, "--tags", "write")...); code != 2 {
		t.Fatalf("apply: code %d", code)
	}
	if b, _ := os.ReadFile(target); string(b) != "hello world\n" {
		t.Fatalf("file = %q", b)
	}
	out, _, code = gpuctl(t, dir, append(args, "--output", "json")...)
	if code != 0 || !strings.Contains(out, `"type":"recap"`) {
		t.Fatalf("re-run: code %d\n%s", code, out)
	}
	if strings.Contains(out, "skipped by tags") == false && !strings.Contains(out, `"debug"`) {
		t.Fatalf("json output lacks the debug task:\n%s", out)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pb.yaml"), []byte("- hosts: all\n  tasks:\n    - copy: {dest: /x, bogus: 1}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "inv.yaml"), []byte("all:\n  hosts: [a]\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "pb.yaml"}, `pb.yaml:3 (task "copy"): module copy: unknown argument`},
		{[]string{"run", "pb.yaml", "-i", "inv.yaml"}, "inv.yaml:2:10"},
		{[]string{"run", "missing.yaml"}, "missing.yaml"},
		{[]string{"run", "pb.yaml", "-e", "novalue"}, "expected KEY=VALUE"},
		{[]string{"run", "pb.yaml", "--output", "xml"}, "--output must be text or json"},
		{[]string{"doc", "coppy"}, `did you mean "copy"`},
	} {
		_, stderr, code := gpuctl(t, dir, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

func TestModulesDocPlaybooks(t *testing.T) {
	dir := t.TempDir()
	out, _, _ := gpuctl(t, dir, "modules")
	for _, m := range []string{"swap", "apt", "containerd", "kubeadm", "cni", "nvidia_driver", "device_plugin", "taint", "label", "gpu_test_pod", "model_server", "command", "template", "service"} {
		if !strings.Contains(out, m+" ") {
			t.Errorf("modules lacks %s", m)
		}
	}
	out, _, _ = gpuctl(t, dir, "doc", "swap")
	for _, want := range []string{"ARGUMENTS", "CHECK MODE", "EXAMPLE"} {
		if !strings.Contains(out, want) {
			t.Errorf("doc swap lacks %s:\n%s", want, out)
		}
	}
	out, _, code := gpuctl(t, dir, "playbooks", "export", filepath.Join(dir, "pb"))
	if code != 0 || !strings.Contains(out, "site.yaml") {
		t.Fatalf("export: %d %s", code, out)
	}
	if _, _, code := gpuctl(t, dir, "playbooks", "export", filepath.Join(dir, "pb")); code != 1 {
		t.Fatal("export over existing files without --force succeeded")
	}
}

func TestSSHConfigFor(t *testing.T) {
	inv, err := inventory.Parse("inv.yaml", []byte(`all:
  hosts:
    gpu-1:
      ansible_host: 10.0.0.11
      ansible_port: 2222
      ansible_user: ubuntu
      ansible_ssh_private_key_file: /keys/id
      gpuctl_known_hosts: /etc/gpuctl/known_hosts
      ansible_ssh_common_args: "-o ProxyJump=jump@bastion:2200"
`))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := inv.Host("gpu-1")
	t.Setenv("GPUCTL_HOST_KEY_CHECKING", "")
	os.Unsetenv("GPUCTL_HOST_KEY_CHECKING")
	os.Unsetenv("ANSIBLE_HOST_KEY_CHECKING")
	cfg, err := cli.SSHConfigFor(h, h.Vars, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "10.0.0.11" || cfg.Port != 2222 || cfg.User != "ubuntu" || cfg.KeyFiles[0] != "/keys/id" || cfg.KnownHostsFiles[0] != "/etc/gpuctl/known_hosts" || cfg.InsecureIgnoreHostKey {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg.Bastion == nil || cfg.Bastion.Host != "bastion" || cfg.Bastion.Port != 2200 || cfg.Bastion.User != "jump" {
		t.Fatalf("bastion = %+v", cfg.Bastion)
	}
	t.Setenv("GPUCTL_HOST_KEY_CHECKING", "false")
	if cfg, _ := cli.SSHConfigFor(h, h.Vars, 0); !cfg.InsecureIgnoreHostKey {
		t.Fatal("GPUCTL_HOST_KEY_CHECKING=false ignored")
	}
}

func TestParseExtraVars(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "v.yaml")
	os.WriteFile(f, []byte("a: 1\nb: [x]\n"), 0o644)
	v, err := cli.ParseExtraVars([]string{"@" + f, "c=3 d=4", `{"e": true}`})
	if err != nil {
		t.Fatal(err)
	}
	if v["a"] != 1 || v["c"] != "3" || v["d"] != "4" || v["e"] != true {
		t.Fatalf("vars = %v", v)
	}
}

// -e reads YAML as ansible-playbook does (PyYAML, YAML 1.1): a bare yes in
// a mapping or a vars file is True; KEY=VALUE stays text, as there.
func TestExtraVarsYAML11(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ev.yml")
	if err := os.WriteFile(f, []byte("b: on\nc: 1:30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := cli.ParseExtraVars([]string{"{a: yes}", "@" + f, "d=yes"})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != true || got["b"] != true || got["c"] != 90 || got["d"] != "yes" {
		t.Errorf("got %#v", got)
	}
}
