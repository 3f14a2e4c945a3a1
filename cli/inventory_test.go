package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An INI inventory with group_vars and a vaulted variable reaches a debug
// task over the local connection; the decrypted secret never reaches the
// output. The ciphertext was made by ansible-vault encrypt_string with the
// password "hunter2pass" (inventory/testdata/vault).
func TestRunINIInventoryWithVault(t *testing.T) {
	dir := t.TempDir()
	vaulted, err := os.ReadFile(filepath.Join("..", "inventory", "testdata", "vault", "group_vars", "gpu.yml"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	must("inv/hosts.ini", "[gpu]\nnode01 ansible_connection=local greeting_from_ini=hi\n", 0o644)
	must("inv/group_vars/gpu.yml", string(vaulted)+"site: lab-7\n", 0o644)
	must("pw.sh", "#!/bin/sh\necho hunter2pass\n", 0o755)
	must("pb.yaml", `
- hosts: gpu[0]
  gather_facts: false
  tasks:
    - debug: {msg: "site={{ site }} ini={{ greeting_from_ini }} token={{ registry.token }}"}
- hosts: nosuchgroup
  gather_facts: false
  tasks:
    - debug: {msg: never}
`, 0o644)
	for _, flags := range [][]string{
		{"--vault-password-file", "pw.sh"},
		{"--vault-id", "dev@pw.sh"},
	} {
		args := append([]string{"run", "pb.yaml", "-i", "inv/hosts.ini"}, flags...)
		for _, format := range []string{"text", "json"} {
			out, stderr, code := gpuctl(t, dir, append(args, "--output", format)...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, stderr)
			}
			if !strings.Contains(out, "site=lab-7 ini=hi token=********") {
				t.Errorf("%v %s: vars did not reach the task or the secret was not masked:\n%s", flags, format, out)
			}
			if strings.Contains(out+stderr, "tok-123456") {
				t.Errorf("%v %s: decrypted secret leaked:\n%s\n%s", flags, format, out, stderr)
			}
			if !strings.Contains(out+stderr, "Could not match supplied host pattern, ignoring: nosuchgroup") {
				t.Errorf("%v %s: no Ansible warning for the empty play:\n%s\n%s", flags, format, out, stderr)
			}
		}
	}
	_, stderr, code := gpuctl(t, dir, "run", "pb.yaml", "-i", "inv/hosts.ini")
	if code != 1 || !strings.Contains(stderr, "gpu.yml:") || !strings.Contains(stderr, "no vault password was given") {
		t.Errorf("without a vault password: exit %d: %s", code, stderr)
	}
	must("wrong", "nope\n", 0o600)
	_, stderr, code = gpuctl(t, dir, "run", "pb.yaml", "-i", "inv/hosts.ini", "--vault-password-file", "wrong")
	if code != 1 || !strings.Contains(stderr, "gpu.yml:3:") || !strings.Contains(stderr, "wrong password") {
		t.Errorf("wrong vault password: exit %d: %s", code, stderr)
	}
}
