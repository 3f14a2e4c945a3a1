package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/vault"
)

// implicitLocalhost is the inventory of a run without -i: the controller
// over the local connection, as `ansible-playbook` without an inventory.
const implicitLocalhost = "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"

// openInventory reads every -i source with the vault passwords asked for,
// plus group_vars/ and host_vars/ beside the playbook, and prints the
// inventory's warnings (unmatched patterns, empty host lists) to stderr.
func (o *runOptions) openInventory(ctx context.Context) (*inventory.Inventory, error) {
	if len(o.inventories) == 0 {
		return inventory.Parse("(implicit localhost)", []byte(implicitLocalhost))
	}
	secrets, err := o.vaultSecrets(ctx)
	if err != nil {
		return nil, err
	}
	opt := inventory.Options{Sources: o.inventories, Vault: secrets}
	if o.playbook != "" {
		if _, err := os.Stat(o.playbook); err == nil {
			opt.PlaybookDir = filepath.Dir(o.playbook)
		}
	}
	inv, err := inventory.Open(opt)
	if err != nil {
		return nil, err
	}
	for _, w := range inv.Warnings() {
		fmt.Fprintln(o.io.Err, "[WARNING]:", w)
	}
	return inv, nil
}

// vaultSecrets loads the passwords of --vault-id, --vault-password-file and
// --ask-vault-pass in that order, as ansible-core tries them.
func (o *runOptions) vaultSecrets(ctx context.Context) ([]vault.Secret, error) {
	ask := func(prompt string) (string, error) { return readPassword(o.io, prompt) }
	var out []vault.Secret
	add := func(id, src string) error {
		s, err := vault.Load(ctx, id, src, ask)
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}
	for _, spec := range o.vaultIDs {
		id, src := vault.ParseID(spec)
		if err := add(id, src); err != nil {
			return nil, err
		}
	}
	for _, f := range o.vaultPassFiles {
		if err := add(vault.DefaultID, f); err != nil {
			return nil, err
		}
	}
	if o.askVaultPass {
		if err := add(vault.DefaultID, "prompt"); err != nil {
			return nil, err
		}
	}
	return out, nil
}
