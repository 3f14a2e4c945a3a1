package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/vault"
)

// What an Ansible user brings: an INI inventory, group_vars beside it (one
// file vault-encrypted), group_vars beside the playbook, and a vault
// password file. The values reach the tasks, the vaulted one masked.
func TestRunPlaybookGroupVarsAndVaultedFile(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("inv/hosts.ini", "# fleet\n[gpu]\ngpu1 ansible_connection=local driver_branch=580\n\n[gpu:vars]\nrole_name_x=worker\n")
	enc, err := vault.Encrypt([]byte("bmc_password: s3cr3t-bmc\n"), vault.Secret{ID: vault.DefaultID, Password: []byte("hunter2pass")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write("inv/group_vars/gpu.yml", string(enc))
	write("play/group_vars/all.yml", "site: from-playbook-dir\n")
	write("vault-pass", "hunter2pass\n")
	write("play/pb.yml", `
- hosts: gpu
  gather_facts: false
  tasks:
    - debug: {msg: "branch={{ driver_branch }} role={{ role_name_x }} site={{ site }} pw={{ bmc_password }}"}
`)
	out, stderr, code := gpuctl(t, dir, "run", "play/pb.yml", "-i", "inv/hosts.ini", "--vault-password-file", "vault-pass")
	if code != 0 {
		t.Fatalf("code %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "branch=580 role=worker site=from-playbook-dir pw=********") {
		t.Fatalf("variables did not reach the task as expected:\n%s", out)
	}
	if strings.Contains(out+stderr, "s3cr3t-bmc") {
		t.Fatalf("vaulted value leaked:\n%s%s", out, stderr)
	}
	// Without the password the run stops before any task, naming the file.
	out, stderr, code = gpuctl(t, dir, "run", "play/pb.yml", "-i", "inv/hosts.ini")
	if code == 0 || !strings.Contains(stderr, "gpu.yml") {
		t.Fatalf("missing vault password: code %d\n%s%s", code, out, stderr)
	}
}
