package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/internal/yaml11"
	"github.com/gpuctl/gpuctl/vault"
)

// varsDir holds what one directory's group_vars/ and host_vars/ set.
type varsDir struct {
	dir    string
	groups map[string]map[string]any
	hosts  map[string]map[string]any
}

// varsExts are the names ansible-core's host_group_vars plugin looks for,
// in order: a directory or extensionless file first, then .yml, .yaml, .json.
var varsExts = []string{"", ".yml", ".yaml", ".json"}

func (inv *Inventory) loadVarsDirs(d decoder, dirs []string, playDir string) error {
	cache := map[string]map[string]any{}
	for _, dir := range dirs {
		vd, err := inv.loadVarsDir(d, dir, cache)
		if err != nil {
			return err
		}
		inv.layers.inv = append(inv.layers.inv, vd)
	}
	if playDir != "" {
		vd, err := inv.loadVarsDir(d, playDir, cache)
		if err != nil {
			return err
		}
		inv.layers.play = vd
	}
	return nil
}

func (inv *Inventory) loadVarsDir(d decoder, dir string, cache map[string]map[string]any) (*varsDir, error) {
	vd := &varsDir{dir: dir, groups: map[string]map[string]any{}, hosts: map[string]map[string]any{}}
	hostNames := append(slices.Clone(inv.order), localhostNames...)
	for _, set := range []struct {
		sub   string
		names []string
		into  map[string]map[string]any
	}{{"group_vars", inv.groupOrder, vd.groups}, {"host_vars", hostNames, vd.hosts}} {
		base := filepath.Join(dir, set.sub)
		fi, err := os.Stat(base)
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			inv.warnings = append(inv.warnings, fmt.Sprintf("Found %s that is not a directory, skipping: %s", set.sub, base))
			continue
		}
		for _, name := range set.names {
			vars, err := inv.varsFor(d, base, name, cache)
			if err != nil {
				return nil, err
			}
			if len(vars) > 0 {
				set.into[name] = vars
			}
		}
	}
	return vd, nil
}

// varsFor merges the files of one group or host, as ansible-core's
// find_vars_files: the first of NAME (a directory: all its files, sorted,
// recursively), NAME.yml, NAME.yaml, NAME.json.
func (inv *Inventory) varsFor(d decoder, base, name string, cache map[string]map[string]any) (map[string]any, error) {
	if strings.HasPrefix(name, string(filepath.Separator)) {
		return nil, nil
	}
	var files []string
	for _, ext := range varsExts {
		p := filepath.Join(base, name+ext)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			files = dirVarsFiles(p)
		} else {
			files = []string{p}
		}
		break
	}
	out := map[string]any{}
	for _, f := range files {
		vars, ok := cache[f]
		if !ok {
			var err error
			if vars, err = inv.readVarsFile(d, f); err != nil {
				return nil, err
			}
			cache[f] = vars
		}
		for k, v := range vars {
			out[k] = v
		}
	}
	return out, nil
}

func dirVarsFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		p, ext := filepath.Join(dir, n), filepath.Ext(n)
		fi, err := os.Stat(p)
		switch {
		case err != nil:
		case fi.IsDir() && ext == "":
			out = append(out, dirVarsFiles(p)...)
		case fi.Mode().IsRegular() && slices.Contains(varsExts, ext):
			out = append(out, p)
		}
	}
	return out
}

// readVarsFile reads a YAML/JSON vars file: whole-file vault or `!vault`
// values inside.
func (inv *Inventory) readVarsFile(d decoder, path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	whole := vault.IsEncrypted(data)
	if whole {
		if data, err = vault.Decrypt(data, d.secrets); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	yaml11.Fix(&root)
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		return nil, nil // empty files are ignored, as in ansible-core
	}
	vars, err := d.varsMapping(path, root.Content[0], "a vars file")
	if err != nil {
		return nil, err
	}
	if whole {
		secretStrings(vars, d.found)
	}
	return vars, nil
}
