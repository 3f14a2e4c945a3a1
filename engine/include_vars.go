package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/vault"
)

func init() {
	modules.Register(modules.Info{
		Name:      "include_vars",
		Summary:   "Load variables from YAML/JSON files on the controller (a file, or a directory's files), vault-encrypted or not",
		CheckMode: "Loads the variables as in a real run, so later tasks check against them; changes nothing.",
		Example: `- include_vars: "{{ ansible_distribution }}.yml"
- include_vars:
    dir: vars/clusters
    files_matching: '\.yml$'
    name: clusters`,
		FreeForm: "file",
		New:      func() modules.Module { return &IncludeVars{} },
	})
}

// IncludeVars is ansible.builtin.include_vars. Its variables rank as
// set_fact's do in gpuctl (Ansible ranks them one step below).
type IncludeVars struct {
	noWork
	File          string   `yaml:"file" doc:"file to load; relative: the role's vars/, the task file's directory, the playbook's directory"`
	Dir           string   `yaml:"dir" doc:"directory whose files to load, sorted by name; relative: the role's vars/, else the task file's directory"`
	Name          string   `yaml:"name" doc:"put every variable under this one name instead of at the top"`
	Depth         int      `yaml:"depth" doc:"directory levels to descend (0: all)"`
	FilesMatching string   `yaml:"files_matching" doc:"only files whose name matches this regular expression"`
	IgnoreFiles   []string `yaml:"ignore_files" doc:"regular expressions of file names to skip"`
	Extensions    []string `yaml:"extensions" doc:"extensions a dir's files must have (default yaml, yml, json)"`
	IgnoreUnknown bool     `yaml:"ignore_unknown_extensions" doc:"skip files of other extensions instead of failing"`
	HashBehaviour string   `yaml:"hash_behaviour" choices:"replace,merge" doc:"merge: combine dictionaries with the values already set"`

	vars map[string]any
}

var varsExts = []string{"yaml", "yml", "json"}

func (m *IncludeVars) Validate() error {
	dirArgs := m.Depth != 0 || m.FilesMatching != "" || len(m.IgnoreFiles) > 0 || len(m.Extensions) > 0 || m.IgnoreUnknown
	switch {
	case m.File != "" && (m.Dir != "" || dirArgs):
		return errors.New("file and the directory arguments (dir, depth, files_matching, ignore_files, extensions) are incompatible")
	case m.File == "" && m.Dir == "":
		return errors.New("give a file or a dir")
	}
	for _, re := range append([]string{m.FilesMatching}, m.IgnoreFiles...) {
		if _, err := pyre.Compile(re, 0); err != nil {
			return fmt.Errorf("regular expression %q: %w", re, err)
		}
	}
	return nil
}

// SetFacts hands the loaded variables to the engine like set_fact's.
func (m *IncludeVars) SetFacts() map[string]any { return m.vars }

func (m *IncludeVars) act(_ context.Context, tr *taskRun, _ *taskHost) (execution, error) {
	files, err := m.files(tr)
	if err != nil {
		return execution{err: err}, nil
	}
	vars, included := map[string]any{}, []any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return execution{err: fmt.Errorf("include_vars: %w", err)}, nil
		}
		v, secrets, err := vault.Vars(f, data, tr.e.opt.Vault)
		if err != nil {
			return execution{err: fmt.Errorf("include_vars: %w", err)}, nil
		}
		for _, s := range secrets {
			tr.e.addSecret(s)
		}
		maps.Copy(vars, v)
		included = append(included, f)
	}
	if m.HashBehaviour == "merge" {
		for k, v := range vars {
			vars[k] = mergeHash(tr.vars[k], v)
		}
	}
	if m.Name != "" {
		vars = map[string]any{m.Name: vars}
	}
	m.vars = vars
	res := newResult()
	res["ansible_facts"], res["ansible_included_var_files"] = vars, included
	return execution{res: res}, nil
}

// files lists what to load, in order.
func (m *IncludeVars) files(tr *taskRun) ([]string, error) {
	role, _ := tr.vars["role_path"].(string)
	if m.File != "" {
		return m.findFile(role, filepath.Dir(tr.task.Pos.File), str(tr.vars["playbook_dir"]))
	}
	dir := m.Dir
	switch {
	case filepath.IsAbs(dir):
	case role != "" && strings.HasPrefix(dir, "vars/"):
		dir = filepath.Join(role, dir)
	case role != "":
		dir = filepath.Join(role, "vars", dir)
	default:
		dir = filepath.Join(filepath.Dir(tr.task.Pos.File), dir)
	}
	return m.walk(dir, role)
}

// findFile searches as Ansible's include_vars does: the role's vars/ and
// the role, the task file's vars/ and directory, the playbook's vars/ and
// directory.
func (m *IncludeVars) findFile(role, taskDir, playbookDir string) ([]string, error) {
	if filepath.IsAbs(m.File) {
		return []string{m.File}, nil
	}
	var tried []string
	for _, base := range []string{role, taskDir, playbookDir} {
		if base == "" {
			continue
		}
		for _, p := range []string{filepath.Join(base, "vars", m.File), filepath.Join(base, m.File)} {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return []string{p}, nil
			}
			tried = append(tried, p)
		}
	}
	return nil, fmt.Errorf("include_vars: could not find %s (searched %s)", m.File, strings.Join(slices.Compact(tried), ", "))
}

// walk lists a directory's files, sorted, down to Depth levels, leaving out
// the role's own vars/main.yml, as Ansible does.
func (m *IncludeVars) walk(dir, role string) ([]string, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("include_vars: %s is not a directory", dir)
	}
	exts := m.Extensions
	if len(exts) == 0 {
		exts = varsExts
	}
	match, err := pyre.Compile(m.FilesMatching, 0) // Validate compiled it
	if err != nil {
		return nil, err
	}
	var out []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		level := strings.Count(rel, string(filepath.Separator)) + 1
		if d.IsDir() {
			if m.Depth > 0 && p != dir && level >= m.Depth {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if (role != "" && p == filepath.Join(role, "vars", "main.yml")) || !match.MatchString(name) || m.ignored(name) {
			return nil
		}
		if !slices.Contains(exts, strings.TrimPrefix(filepath.Ext(name), ".")) {
			if m.IgnoreUnknown {
				return nil
			}
			return fmt.Errorf("%s does not have a valid extension: %s", p, strings.Join(exts, ", "))
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("include_vars: %w", err)
	}
	// A directory's own files before its subdirectories', as Ansible's
	// sorted walk loads them (later files win).
	slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(filepath.Dir(a), filepath.Dir(b)) })
	return out, nil
}

func (m *IncludeVars) ignored(name string) bool {
	for _, re := range m.IgnoreFiles {
		if r, err := pyre.Compile(re+"$", 0); err == nil && r.MatchString(name) {
			return true
		}
	}
	return false
}

// mergeHash combines dictionaries recursively, new values winning (Ansible's
// hash_behaviour=merge).
func mergeHash(old, new any) any {
	o, ok1 := old.(map[string]any)
	n, ok2 := new.(map[string]any)
	if !ok1 || !ok2 {
		return new
	}
	out := maps.Clone(o)
	for k, v := range n {
		out[k] = mergeHash(o[k], v)
	}
	return out
}

var _ action = (*IncludeVars)(nil)
