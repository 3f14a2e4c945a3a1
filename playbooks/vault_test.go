package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gpuctl/gpuctl/vault"
)

// vars_files may be vault-encrypted (ansible-vault encrypt; the file is
// vault/testdata/file-1.1.vault, written by ansible-core 2.14).
func TestVaultedVarsFiles(t *testing.T) {
	enc, err := os.ReadFile("../vault/testdata/file-1.1.vault")
	if err != nil {
		t.Fatal(err)
	}
	dir := write(t, map[string]string{
		"site.yaml":  "- hosts: all\n  vars_files: [secret.yml]\n  tasks: []\n",
		"secret.yml": string(enc),
	})
	l := &Loader{Vault: []vault.Secret{{ID: vault.DefaultID, Password: []byte("hunter2pass")}}}
	pb, err := l.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if pb.Plays[0].Vars["vaulted_user"] != "alice" || !slices.Contains(l.Secrets(), "alice") {
		t.Fatalf("vars = %v, secrets = %v", pb.Plays[0].Vars, l.Secrets())
	}
	_, err = (&Loader{}).Load(filepath.Join(dir, "site.yaml"))
	if !errors.Is(err, vault.ErrNoSecret) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("without a password: %v", err)
	}
}
