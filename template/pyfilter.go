package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyjson"
)

// PythonFilter is a filter plugin written in Python that gpuctl has no Go
// filter for: one of an installed collection's (community.sops._latest_version)
// or of a filter_plugins/ directory beside the playbook or in a role. It
// runs on the controller with its python3, as ansible-core runs it there.
type PythonFilter struct {
	Name   string   // as templates call it
	Module string   // the Python module holding its FilterModule
	Key    string   // its key in FilterModule().filters()
	Path   []string // directories put first on the Python path
}

// FindPythonFilter looks for the filter a template names: ns.coll.name in
// the collections under roots (ansible_collections directories), a plain
// name in dirs (filter_plugins directories). A file defines it when its
// FilterModule's filters() maps the name, found in the source.
func FindPythonFilter(name string, roots, dirs []string) (PythonFilter, bool) {
	key := regexp.MustCompile(`['"]` + regexp.QuoteMeta(lastPart(name)) + `['"]\s*:`)
	find := func(dir string) (string, bool) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.py"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && bytes.Contains(b, []byte("FilterModule")) && key.Match(b) {
				return strings.TrimSuffix(filepath.Base(f), ".py"), true
			}
		}
		return "", false
	}
	if parts := strings.Split(name, "."); len(parts) == 3 {
		for _, root := range roots {
			if mod, ok := find(filepath.Join(root, parts[0], parts[1], "plugins", "filter")); ok {
				return PythonFilter{Name: name, Key: parts[2], Path: []string{filepath.Dir(root)},
					Module: "ansible_collections." + parts[0] + "." + parts[1] + ".plugins.filter." + mod}, true
			}
		}
		return PythonFilter{}, false
	}
	if strings.Contains(name, ".") {
		return PythonFilter{}, false
	}
	for _, d := range dirs {
		if mod, ok := find(d); ok {
			return PythonFilter{Name: name, Key: name, Module: mod, Path: []string{d}}, true
		}
	}
	return PythonFilter{}, false
}

// CollectionFilters are every filter plugin of the collection ns.coll
// under root (an ansible_collections directory), read from the keys its
// FilterModule's filters() returns.
func CollectionFilters(root, ns, coll string) []PythonFilter {
	var out []PythonFilter
	files, _ := filepath.Glob(filepath.Join(root, ns, coll, "plugins", "filter", "*.py"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		_, body, ok := bytes.Cut(b, []byte("def filters("))
		if !ok {
			continue
		}
		mod := strings.TrimSuffix(filepath.Base(f), ".py")
		for _, m := range filterKey.FindAllSubmatch(body, -1) {
			out = append(out, PythonFilter{Name: ns + "." + coll + "." + string(m[1]), Key: string(m[1]), Path: []string{filepath.Dir(root)},
				Module: "ansible_collections." + ns + "." + coll + ".plugins.filter." + mod})
		}
	}
	return out
}

var filterKey = regexp.MustCompile(`['"](\w+)['"]\s*:\s*[A-Za-z_]`)

func lastPart(name string) string { return name[strings.LastIndexByte(name, '.')+1:] }

// pyFilterScript calls the filter with the value and arguments as JSON and
// prints its result as JSON; sets and tuples become lists, anything else
// JSON lacks its str(), as Ansible's to_json would refuse them.
const pyFilterScript = `import importlib, json, sys
mod, key, payload = sys.argv[1:4]
f = importlib.import_module(mod).FilterModule().filters()[key]
a = json.loads(payload)
r = f(a['in'], *a['args'], **a['kw'])
def default(o):
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)
sys.stdout.write(json.dumps(r, default=default))
`

func (f PythonFilter) call(in any, args []any, kw map[string]any) (any, error) {
	payload, err := json.Marshal(map[string]any{"in": in, "args": args, "kw": kw})
	if err != nil {
		return nil, fmt.Errorf("filter %s: its arguments as JSON: %w", f.Name, err)
	}
	cmd := exec.Command("python3", "-c", pyFilterScript, f.Module, f.Key, string(payload))
	path := slices.Clone(f.Path)
	if p := os.Getenv("PYTHONPATH"); p != "" {
		path = append(path, p)
	}
	cmd.Env = append(os.Environ(), "PYTHONPATH="+strings.Join(path, string(os.PathListSeparator)))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the exception's own line
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("filter %s (Python, %s): %s", f.Name, f.Module, msg)
	}
	v, err := pyjson.Decode(&out)
	if err != nil {
		return nil, fmt.Errorf("filter %s: its result: %w", f.Name, err)
	}
	return v, nil
}

// AddPythonFilter makes f callable from templates. Call it before the
// engine renders concurrently (at load, or before a run starts): the
// filter set is not guarded.
func (e *Engine) AddPythonFilter(f PythonFilter) error {
	if f.Name == "" || f.Module == "" {
		return errors.New("python filter: name and module are required")
	}
	if e.env.Filters.Exists(f.Name) {
		return nil
	}
	e.python = append(e.python, f)
	fn := valueFilter(f.Name, f.call)
	if m := mangleFQCN(f.Name); m != f.Name {
		if err := e.env.Filters.Register(m, fn); err != nil { // as the template's parse spells it
			return err
		}
	}
	return e.env.Filters.Register(f.Name, fn)
}

// PythonFilters are the Python filters added so far, for a loader to hand
// to the engine that runs the playbook.
func (e *Engine) PythonFilters() []PythonFilter { return slices.Clone(e.python) }
