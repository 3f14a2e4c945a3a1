package playbooks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/pymodule"
	"github.com/gpuctl/gpuctl/template"
)

// pythonModule finds a module gpuctl has no Go module for among the Python
// modules Ansible would run, in ansible-core's order, and returns its Spec:
// for a name with a collection, that collection (following its
// meta/runtime.yml redirects); for a short name, the collection of the role
// the task is in, the play's `collections:`, then ansible.legacy: the
// library/ of the roles loaded so far, library/ beside the playbook,
// ANSIBLE_LIBRARY (ansible.cfg's library), and ansible-core's own modules.
// found is false when no file exists under any of them; err is for a file
// that exists but cannot run (an action plugin, PowerShell, no
// ansible-core to take module_utils from).
func (l *Loader) pythonModule(file, name string) (spec *modules.Spec, found bool, err error) {
	if l.pySpecs == nil {
		l.pySpecs, l.pySources = map[string]*modules.Spec{}, map[string]*pymodule.Source{}
	}
	if s, ok := l.pySpecs[file+"\x00"+name]; ok {
		return s, true, nil
	}
	src, err := l.findPythonModule(file, name, 0)
	if to, ok := err.(goModule); ok {
		spec, err := modules.Resolve(string(to))
		return spec, true, err
	}
	if src == nil || err != nil {
		return nil, src != nil || err != nil, err
	}
	if src.Windows {
		spec = modules.NewSpec(pymodule.WindowsInfo(name, src.Path))
		l.pySpecs[file+"\x00"+name] = spec
		return spec, true, nil
	}
	if err := pymodule.CheckFile(src.Path); err != nil {
		return nil, true, err
	}
	if src.Core, err = l.ansibleCore(); err != nil {
		return nil, true, fmt.Errorf("%s is an Ansible Python module (%s): %w", name, src.Path, err)
	}
	// One Source per file: tasks that name it share one bundle.
	if prev, ok := l.pySources[src.Path]; ok {
		src = prev
	} else {
		l.pySources[src.Path] = src
	}
	spec = modules.NewSpec(pymodule.Info(name, src))
	l.pySpecs[file+"\x00"+name] = spec
	return spec, true, nil
}

func (l *Loader) ansibleCore() (string, error) {
	if l.core == "" && l.coreErr == nil {
		l.core, l.coreErr = pymodule.FindCore()
	}
	return l.core, l.coreErr
}

func (l *Loader) findPythonModule(file, name string, depth int) (*pymodule.Source, error) {
	if depth > 5 {
		return nil, fmt.Errorf("module %s: plugin_routing redirects loop", name)
	}
	base := filepath.Dir(l.root)
	if parts := strings.Split(name, "."); len(parts) >= 3 {
		ns, coll, short := parts[0], parts[1], strings.Join(parts[2:], ".")
		if ns == "ansible" && (coll == "builtin" || coll == "legacy") {
			return l.legacyModule(file, short, coll == "builtin", depth)
		}
		return l.collectionModule(file, base, ns+"."+coll, short, depth)
	}
	var colls []string
	if own := collectionOf(file); own != "" {
		colls = append(colls, own)
	}
	colls = append(colls, l.playCollections...)
	for _, c := range colls {
		if c == "ansible.builtin" || c == "ansible.legacy" {
			continue
		}
		if src, err := l.collectionModule(file, base, c, name, depth); src != nil || err != nil {
			return src, err
		}
	}
	src, err := l.legacyModule(file, name, false, depth)
	if src == nil && err == nil && isWindows("", name) {
		// a Windows module of a collection not installed here: the
		// role's Windows branch still loads
		return &pymodule.Source{Path: name, Windows: true}, nil
	}
	return src, err
}

// passThrough are the collections whose action plugins, over an SSH
// connection, hand the task's arguments to the module unchanged but for
// those listed, which they read on the controller: kubernetes.core's k8s_*
// and helm_* plugins find kubeconfig and src on the remote node unless the
// connection is local, and render only template from the controller.
var passThrough = map[string][]string{
	"kubernetes.core": {"template"},
}

// pythonFilter finds a filter plugin in Python for a filter name gpuctl
// lacks: ns.coll.name in the collections, a plain name in filter_plugins/
// beside the playbook, of the roles loaded so far, and ANSIBLE_FILTER_PLUGINS
// (ansible.cfg's filter_plugins).
func (l *Loader) pythonFilter(name string) (template.PythonFilter, bool) {
	base := filepath.Dir(l.root)
	dirs := []string{filepath.Join(base, "filter_plugins")}
	for _, r := range slices.Backward(l.roleDirs) {
		dirs = append(dirs, filepath.Join(r, "filter_plugins"))
	}
	dirs = append(dirs, l.config(base).PathList([]string{"ANSIBLE_FILTER_PLUGINS"}, []string{"filter_plugins"},
		"~/.ansible/plugins/filter:/usr/share/ansible/plugins/filter")...)
	return template.FindPythonFilter(name, l.collectionsPaths(base), dirs)
}

// collectionFilters adds every filter plugin of the collections whose roles
// the playbook uses: a task file those roles include at run time may call
// one, and the engine registers them all before hosts run in parallel.
func (l *Loader) collectionFilters() {
	seen := map[string]bool{}
	for _, r := range l.roleDirs {
		c := collectionOf(r)
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		ns, coll, _ := strings.Cut(c, ".")
		root, _, _ := inCollection(r)
		for _, f := range template.CollectionFilters(root, ns, coll) {
			_ = l.tpl.AddPythonFilter(f)
		}
	}
}

// isWindows: the Windows collections' modules and Ansible's win_ names.
func isWindows(coll, name string) bool {
	switch coll {
	case "ansible.windows", "community.windows", "microsoft.ad", "chocolatey.chocolatey":
		return true
	}
	return strings.HasPrefix(name, "win_")
}

// missingHint says why an FQCN module was not found: its collection is not
// installed, or has no module of that name.
func (l *Loader) missingHint(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) < 3 || parts[0] == "ansible" && (parts[1] == "builtin" || parts[1] == "legacy") {
		return ""
	}
	coll := parts[0] + "." + parts[1]
	var tried []string
	for _, root := range l.collectionsPaths(filepath.Dir(l.root)) {
		if dir := filepath.Join(root, parts[0], parts[1]); fileExists(dir) {
			return fmt.Sprintf("; collection %s (%s) has no module %s", coll, dir, strings.Join(parts[2:], "."))
		}
		tried = append(tried, root)
	}
	return fmt.Sprintf("; collection %s is not installed (looked in %s; ansible-galaxy collection install %s, or set ANSIBLE_COLLECTIONS_PATH)",
		coll, strings.Join(tried, ", "), coll)
}

// legacyModule looks in the library directories, then ansible-core's modules.
func (l *Loader) legacyModule(file, name string, builtinOnly bool, depth int) (*pymodule.Source, error) {
	base := filepath.Dir(l.root)
	if !builtinOnly {
		var dirs []string
		if r := roleDirOf(file); r != "" {
			dirs = append(dirs, filepath.Join(r, "library"))
		}
		for _, r := range slices.Backward(l.roleDirs) {
			dirs = append(dirs, filepath.Join(r, "library"))
		}
		dirs = append(dirs, filepath.Join(base, "library"))
		dirs = append(dirs, l.config(base).PathList([]string{"ANSIBLE_LIBRARY"}, []string{"library"},
			"~/.ansible/plugins/modules:/usr/share/ansible/plugins/modules")...)
		for _, d := range dirs {
			if p := filepath.Join(d, name+".ps1"); fileExists(p) {
				return &pymodule.Source{Path: p, Windows: true}, nil
			}
			for _, f := range []string{name + ".py", name} {
				p := filepath.Join(d, f)
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
					return &pymodule.Source{Path: p, ModuleUtils: l.moduleUtilsDirs(file)}, nil
				}
			}
		}
	}
	core, err := l.ansibleCore()
	if err != nil {
		return nil, nil // no ansible-core: not found here, the Go module's error stands
	}
	p := filepath.Join(core, "modules", name+".py")
	if _, err := os.Stat(p); err != nil {
		// ansible-core routes short names of modules that moved to
		// collections (win_copy, docker_container, mysql_user)
		if l.builtinRouting == nil {
			l.builtinRouting = map[string]string{}
			readRouting(filepath.Join(core, "config", "ansible_builtin_runtime.yml"), l.builtinRouting)
		}
		if to := l.builtinRouting[name]; to != "" && depth < 5 {
			if _, err := modules.Resolve(to); err == nil {
				return nil, goModule(to)
			}
			return l.findPythonModule(file, to, depth+1)
		}
		return nil, nil
	}
	if act := filepath.Join(core, "plugins", "action", name+".py"); fileExists(act) {
		return nil, fmt.Errorf("ansible-core's %s runs an action plugin on the controller (%s), which gpuctl does not run", name, act)
	}
	return &pymodule.Source{Path: p, Builtin: true}, nil
}

// collectionModule looks for coll's module name in every collections path.
func (l *Loader) collectionModule(file, base, coll, name string, depth int) (*pymodule.Source, error) {
	ns, c, _ := strings.Cut(coll, ".")
	for _, root := range l.collectionsPaths(base) {
		dir := filepath.Join(root, ns, c)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		// A Windows module's .py beside its .ps1 is only its documentation;
		// win_template and win_copy are action plugins over PowerShell.
		if ps := filepath.Join(dir, "plugins", "modules", name+".ps1"); fileExists(ps) {
			return &pymodule.Source{Path: ps, Windows: true}, nil
		}
		p := filepath.Join(dir, "plugins", "modules", strings.ReplaceAll(name, ".", "/")+".py")
		if _, err := os.Stat(p); err == nil && isWindows(coll, name) {
			return &pymodule.Source{Path: p, Windows: true}, nil
		}
		if _, err := os.Stat(p); err == nil {
			src := &pymodule.Source{Path: p, Collection: coll, CollectionsRoot: root}
			if act := pymodule.ActionPlugin(root, coll, name); act != "" {
				args, ok := passThrough[coll]
				if !ok {
					return nil, fmt.Errorf("%s.%s runs an action plugin on the controller (%s), which gpuctl does not run", coll, name, act)
				}
				src.ControllerArgs = args
			}
			return src, nil
		}
		to, tomb := routing(filepath.Join(dir, "meta", "runtime.yml"), name)
		if tomb != "" {
			return nil, fmt.Errorf("%s.%s was removed from %s: %s", coll, name, coll, tomb)
		}
		if to != "" {
			if _, err := modules.Resolve(to); err == nil {
				return nil, goModule(to) // redirected to a name gpuctl has as a Go module
			}
			return l.findPythonModule(file, to, depth+1)
		}
	}
	return nil, nil
}

// goModule is a redirect (meta/runtime.yml) to a module gpuctl has in Go.
type goModule string

func (g goModule) Error() string { return "redirected to " + string(g) }

// routing reads a collection's meta/runtime.yml entry for a module: where it
// was redirected, or the tombstone's warning when it was removed.
func routing(runtime, name string) (redirect, tombstone string) {
	rt, ok := readRuntime(runtime)
	if !ok {
		return "", ""
	}
	e := rt.PluginRouting.Modules[name]
	if e.Tombstone != nil {
		return "", or(e.Tombstone.Warning, "removed")
	}
	return e.Redirect, ""
}

// readRouting puts every module redirect of a runtime.yml into into.
func readRouting(runtime string, into map[string]string) {
	rt, _ := readRuntime(runtime)
	for name, e := range rt.PluginRouting.Modules {
		if e.Redirect != "" {
			into[name] = e.Redirect
		}
	}
}

type runtimeYML struct {
	PluginRouting struct {
		Modules map[string]struct {
			Redirect  string `yaml:"redirect"`
			Tombstone *struct {
				Warning string `yaml:"warning_text"`
			} `yaml:"tombstone"`
		} `yaml:"modules"`
	} `yaml:"plugin_routing"`
}

func readRuntime(path string) (runtimeYML, bool) {
	var rt runtimeYML
	b, err := os.ReadFile(path)
	if err != nil || yaml.Unmarshal(b, &rt) != nil {
		return rt, false
	}
	return rt, true
}

// moduleUtilsDirs are the custom module_utils a library/ module may import:
// the task's role's, then beside the playbook.
func (l *Loader) moduleUtilsDirs(file string) []string {
	var out []string
	dirs := []string{filepath.Join(filepath.Dir(l.root), "module_utils")}
	if r := roleDirOf(file); r != "" {
		dirs = append(dirs, filepath.Join(r, "module_utils"))
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// roleDirOf is the role directory a task file belongs to (…/roles/x for
// …/roles/x/tasks/main.yml), or "".
func roleDirOf(file string) string {
	for d := filepath.Dir(file); d != filepath.Dir(d); d = filepath.Dir(d) {
		switch filepath.Base(d) {
		case "tasks", "handlers":
			return filepath.Dir(d)
		}
	}
	return ""
}

// collectionOf is "ns.coll" for a file inside an installed collection.
func collectionOf(file string) string {
	if _, rest, ok := inCollection(file); ok && len(rest) >= 3 {
		return rest[0] + "." + rest[1]
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
