package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gpuctl/gpuctl/vault"
)

// Options say where an inventory comes from.
type Options struct {
	// Sources are -i values in order: files, directories, or comma lists of
	// hosts ("web1,web2," as ansible's host_list plugin).
	Sources []string
	// PlaybookDir, when set, also holds group_vars/ and host_vars/.
	PlaybookDir string
	// Vault holds the passwords for vault-encrypted values and files.
	Vault []vault.Secret
}

// Load reads one inventory source.
func Load(path string) (*Inventory, error) {
	return Open(Options{Sources: []string{path}})
}

// Parse reads one inventory file's content (YAML or INI); path labels
// errors and finds nothing on disk.
func Parse(path string, data []byte) (*Inventory, error) {
	inv := newInventory(path)
	b := &builder{inv: inv}
	if err := b.parseFile(path, data, decoder{found: &inv.secrets}); err != nil {
		return nil, err
	}
	if err := inv.resolve(nil, nil, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// Open reads every source, then group_vars/ and host_vars/ beside them and
// beside the playbook, and merges variables by Ansible's precedence.
func Open(opt Options) (*Inventory, error) {
	inv := newInventory(strings.Join(opt.Sources, ", "))
	d := decoder{secrets: opt.Vault, found: &inv.secrets}
	var dirs []string
	for _, src := range opt.Sources {
		dir, err := inv.readSource(src, d)
		if err != nil {
			return nil, err
		}
		if dir != "" {
			dirs = append(dirs, dir)
		}
	}
	if len(inv.order) == 0 {
		inv.warnings = append(inv.warnings, "provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'")
	}
	if err := inv.resolve(&d, dirs, opt.PlaybookDir); err != nil {
		return nil, err
	}
	return inv, nil
}

// readSource reads a file, a directory or a host list and returns the
// directory whose group_vars/ and host_vars/ belong to it ("" for none).
func (inv *Inventory) readSource(src string, d decoder) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		if strings.Contains(src, ",") {
			return "", inv.hostList(src)
		}
		return "", fmt.Errorf("inventory: %w", err)
	}
	if fi.IsDir() {
		return src, inv.readDir(src, d)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("inventory: %w", err)
	}
	b := &builder{inv: inv, source: src}
	return filepath.Dir(src), b.parseFile(src, data, d)
}

// hostList reads "a,b:2222," as ansible's host_list plugin.
func (inv *Inventory) hostList(src string) error {
	b := &builder{inv: inv}
	for _, e := range strings.Split(src, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		host, port := splitHostPort(e)
		if _, err := b.addHost(host, "ungrouped", port); err != nil {
			return fmt.Errorf("inventory %q: %w", src, err)
		}
	}
	return nil
}

// ignoredEntry follows ansible-core's defaults for directory sources:
// hidden files, group_vars/host_vars/vars_plugins, and the extensions of
// INVENTORY_IGNORE_EXTS (REJECT_EXTS plus .orig, .ini, .cfg, .retry).
var ignoredEntry = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$`)

func (inv *Inventory) readDir(dir string, d decoder) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if ignoredEntry.MatchString(n) {
			continue
		}
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if err := inv.readDir(p, d); err != nil {
				return err
			}
			continue
		}
		if isExecutable(p) {
			inv.warnings = append(inv.warnings, fmt.Sprintf("skipping %s: executable inventory scripts are not supported by gpuctl", p))
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		b := &builder{inv: inv, source: p}
		if err := b.parseFile(p, data, d); err != nil {
			return err
		}
	}
	return nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// yamlExts are the names ansible-core's yaml plugin accepts (no extension,
// .yaml, .yml, .json); the ini plugin takes any file.
var yamlExts = []string{"", ".yaml", ".yml", ".json"}

// parseFile tries the YAML reader where Ansible's yaml plugin would, then
// INI, and reports both failures when neither reads the file.
func (b *builder) parseFile(path string, data []byte, d decoder) error {
	if vault.IsEncrypted(data) {
		plain, err := vault.Decrypt(data, d.secrets)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		data = plain
	}
	if !slices.Contains(yamlExts, strings.ToLower(filepath.Ext(path))) {
		return b.parseINI(path, data)
	}
	// Either reader may add groups before failing; try YAML on a scratch
	// copy so a failed attempt leaves nothing behind.
	scratch := &builder{inv: newInventory(path), source: b.source}
	scratchFound := []string{}
	yerr := scratch.parseYAML(path, data, decoder{secrets: d.secrets, found: &scratchFound})
	if yerr == nil {
		return b.parseYAML(path, data, d)
	}
	if errors.Is(yerr, vault.ErrNoSecret) || errors.Is(yerr, vault.ErrDecrypt) || errors.Is(yerr, vault.ErrFormat) {
		return yerr // a YAML inventory with a vault problem: INI cannot help
	}
	if ierr := b.parseINI(path, data); ierr != nil {
		return fmt.Errorf("%s is neither a YAML nor an INI inventory:\n  as YAML: %w\n  as INI: %w", path, yerr, ierr)
	}
	return nil
}
