package inventory

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/vault"
)

// The vaulted values in testdata/vault were made by ansible-vault
// (encrypt_string and encrypt) with the password in testdata/vault/password.
func TestVaultedInventoryAndVarsFiles(t *testing.T) {
	pw := []vault.Secret{{ID: vault.DefaultID, Password: []byte("hunter2pass")}}
	inv, err := Open(Options{Sources: []string{filepath.Join("testdata", "vault", "hosts.yml")}, Vault: pw})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := inv.Host("gpu1")
	reg, _ := h.Vars["registry"].(map[string]any)
	want := map[string]any{"bmc_password": "s3cr3t-bmc", "db_password": "vaulted-db-pass", "shared_user": "admin"}
	for k, v := range want {
		if h.Vars[k] != v {
			t.Errorf("%s = %v, want %v", k, h.Vars[k], v)
		}
	}
	if reg["token"] != "tok-123456" || reg["url"] != "https://registry.example.com" {
		t.Errorf("registry = %v", reg)
	}
	secrets := inv.Secrets()
	for _, s := range []string{"s3cr3t-bmc", "vaulted-db-pass", "admin", "tok-123456"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("secret %q not recorded for masking (have %d)", s, len(secrets))
		}
	}
	if slices.Contains(secrets, "https://registry.example.com") {
		t.Error("a plain value beside a !vault one is not secret")
	}
}

func TestVaultErrorsNameFileAndLine(t *testing.T) {
	src := filepath.Join("testdata", "vault", "hosts.yml")
	_, err := Open(Options{Sources: []string{src}, Vault: []vault.Secret{{ID: vault.DefaultID, Password: []byte("wrong")}}})
	if !errors.Is(err, vault.ErrDecrypt) || !strings.Contains(err.Error(), src+":7:") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = Open(Options{Sources: []string{src}})
	if !errors.Is(err, vault.ErrNoSecret) || !strings.Contains(err.Error(), src+":7:") {
		t.Errorf("no password: %v", err)
	}
}
