package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/vault"
)

// inventoryFlags are the Ansible flags that say where hosts and their
// variables come from: -i (repeatable) and the vault passwords.
type inventoryFlags struct {
	sources       []string
	vaultFiles    []string
	vaultIDs      []string
	askVaultPass  bool
	vaultSecrets  []vault.Secret
	inventoryWarn []string
}

func (f *inventoryFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.sources, "inventory", "i", nil, "inventory: a YAML or INI file, a directory of them, or host1,host2, (repeatable); default: localhost only")
	fs.StringArrayVar(&f.vaultFiles, "vault-password-file", nil, "file holding the Ansible Vault password, or a script printing it (repeatable)")
	fs.StringArrayVar(&f.vaultIDs, "vault-id", nil, "vault password as label@file, label@prompt or file (repeatable)")
	fs.BoolVarP(&f.askVaultPass, "ask-vault-pass", "J", false, "ask for the Ansible Vault password")
}

// loadVault reads every vault password the flags name, as ansible does.
func (f *inventoryFlags) loadVault(ctx context.Context, streams IO) error {
	specs := append([]string{}, f.vaultIDs...)
	for _, file := range f.vaultFiles {
		specs = append(specs, file)
	}
	if f.askVaultPass {
		specs = append(specs, "prompt")
	}
	ask := func(prompt string) (string, error) { return readPassword(streams, prompt) }
	for _, spec := range specs {
		id, src := vault.ParseID(spec)
		s, err := vault.Load(ctx, id, src, ask)
		if err != nil {
			return err
		}
		f.vaultSecrets = append(f.vaultSecrets, s)
	}
	return nil
}

// load reads the inventory; playbook is the playbook file, whose directory
// may hold group_vars/ and host_vars/. Without -i, localhost alone is the
// inventory, over the local connection, as gpuctl always did.
func (f *inventoryFlags) load(playbook string) (*inventory.Inventory, error) {
	if len(f.sources) == 0 {
		return inventory.Parse("(implicit localhost)", []byte("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"))
	}
	opt := inventory.Options{Sources: f.sources, Vault: f.vaultSecrets}
	if playbook != "" {
		opt.PlaybookDir = filepath.Dir(playbook)
	}
	inv, err := inventory.Open(opt)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	f.inventoryWarn = inv.Warnings()
	return inv, nil
}

func (f *inventoryFlags) printWarnings(streams IO) {
	for _, w := range f.inventoryWarn {
		fmt.Fprintf(streams.Err, "[WARNING]: %s\n", w)
	}
}
