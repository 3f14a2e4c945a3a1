package playbooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/internal/ansiblecfg"
	"github.com/gpuctl/gpuctl/template"
)

// roleUse is one mention of a role: in a play's roles:, a meta dependency,
// or include_role/import_role.
type roleUse struct {
	name, tasksFrom, varsFrom, defaultsFrom, handlersFrom string
	params                                                map[string]any
	dedup                                                 bool // play roles and dependencies run once per play
	// export: the role's defaults and vars are seen by every task of the
	// play (Play.RoleDefaults, Play.RoleVars), as ansible-core's play
	// roles, their dependencies and static imports are.
	export bool
}

// roleKeywords are the keys of a `- role: x` entry that are not parameters.
var roleKeywords = map[string]bool{"role": true, "name": true, "tags": true, "when": true, "become": true,
	"become_user": true, "vars": true, "environment": true, "module_defaults": true, "delegate_to": true, "ignore_errors": true, "no_log": true}

// playRole reads one entry of a play's roles: list into a task wrapping the
// role's tasks.
func (l *Loader) playRole(file string, n *yaml.Node, depth int, export bool) (*Task, error) {
	use := roleUse{dedup: true, params: map[string]any{}, export: export}
	t := &Task{Pos: Pos{file, n.Line}}
	switch n.Kind {
	case yaml.ScalarNode:
		use.name = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			var err error
			switch k.Value {
			case "role", "name":
				use.name, err = l.str(file, v)
			case "tags":
				t.Tags, err = l.strList(file, v)
			case "when":
				t.When, err = l.exprList(file, v)
			case "become":
				t.Become, err = l.boolPtr(file, v)
			case "become_user":
				t.BecomeUser, err = l.str(file, v)
			case "vars":
				err = l.decode(file, v, &t.Vars, "a mapping")
			case "environment":
				err = l.decode(file, v, &t.Environment, "a mapping or an expression")
			case "module_defaults":
				t.ModuleDefaults, err = l.moduleDefaults(file, v)
			case "delegate_to", "ignore_errors", "no_log":
				return nil, l.errf(file, k, "role %q: %s on a role is not supported; set it on the tasks", use.name, k.Value)
			default:
				var val any
				err = v.Decode(&val)
				use.params[k.Value] = val
			}
			if err != nil {
				return nil, err
			}
		}
	default:
		return nil, l.errf(file, n, "a role is a name or a mapping with role:, got %s", kindName(n))
	}
	if use.name == "" {
		return nil, l.errf(file, n, "role entry without a role name")
	}
	role, tasks, err := l.loadRole(file, n, use, depth)
	if err != nil {
		return nil, err
	}
	t.Name, t.Role, t.Include = "role "+use.name, role, tasks
	if t.Include == nil {
		t.Include = []*Task{}
	}
	return t, nil
}

// loadRole finds a role, reads its defaults, vars and handlers, and returns
// its tasks with its dependencies' tasks first. A role already used in the
// play with the same parameters returns no tasks (Ansible's dedup), unless
// its meta says allow_duplicates.
func (l *Loader) loadRole(file string, at *yaml.Node, use roleUse, depth int) (*Role, []*Task, error) {
	if depth > 20 {
		return nil, nil, l.errf(file, at, "role %q nested too deeply (a dependency cycle?)", use.name)
	}
	dir, err := l.findRole(file, use.name)
	if err != nil {
		return nil, nil, l.errf(file, at, "%v", err)
	}
	role := &Role{Name: filepath.Base(dir), Path: dir, Params: use.params}
	if !slices.Contains(l.roleDirs, dir) {
		l.roleDirs = append(l.roleDirs, dir)
	}
	if strings.Contains(use.name, "/") && !filepath.IsAbs(use.name) {
		role.Name = use.name // a role found under a search path keeps the name as written, as role_name
	}
	meta, err := l.roleMeta(dir)
	if err != nil {
		return nil, nil, err
	}
	key := fmt.Sprint(dir, use.tasksFrom, use.params)
	if use.dedup && !meta.AllowDuplicates {
		if l.rolesRun[key] {
			return role, nil, nil
		}
		l.rolesRun[key] = true
	}
	if role.Defaults, err = l.roleVarsFile(dir, "defaults", or(use.defaultsFrom, "main")); err != nil {
		return nil, nil, err
	}
	if role.Vars, err = l.roleVarsFile(dir, "vars", or(use.varsFrom, "main")); err != nil {
		return nil, nil, err
	}
	var out []*Task
	for _, dn := range meta.deps {
		dep, err := l.playRole(filepath.Join(dir, "meta", "main.yml"), dn, depth+1, use.export)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, dep)
	}
	tasks, err := l.roleTasks(dir, "tasks", or(use.tasksFrom, "main"), false, depth)
	if err != nil {
		return nil, nil, err
	}
	handlers, err := l.roleTasks(dir, "handlers", or(use.handlersFrom, "main"), true, depth)
	if err != nil {
		return nil, nil, err
	}
	l.addRoleHandlers(role, handlers)
	if use.export {
		// after its dependencies: ansible-core's Role.get_default_vars and
		// get_vars put a role's own values over its dependencies'
		l.exported = append(l.exported, role)
	}
	return role, append(out, tasks...), nil
}

// addRoleHandlers puts a role's handlers into the play, each wrapped so it
// runs with the role's variables, and notifiable as "role : name" too.
func (l *Loader) addRoleHandlers(role *Role, handlers []*Task) {
	for _, h := range handlers {
		id := h.Pos.String()
		if l.handlersSeen[id] {
			continue
		}
		l.handlersSeen[id] = true
		listen := append([]string{}, h.Listen...)
		if h.Name != "" {
			listen = append(listen, role.Name+" : "+h.Name)
		}
		l.roleHandlers = append(l.roleHandlers, &Task{Name: h.Name, Listen: listen, Include: []*Task{h}, Role: role, Pos: h.Pos})
	}
}

type roleMeta struct {
	AllowDuplicates bool `yaml:"allow_duplicates"`
	deps            []*yaml.Node
}

func (l *Loader) roleMeta(dir string) (roleMeta, error) {
	var m roleMeta
	path, doc, err := l.roleFile(dir, "meta", "main")
	if err != nil || doc == nil {
		return m, err
	}
	if doc.Kind != yaml.MappingNode {
		return m, nil
	}
	if err := doc.Decode(&m); err != nil {
		return m, l.errf(path, doc, "meta: %v", err)
	}
	if deps := mapGet(doc, "dependencies"); deps != nil && deps.Kind == yaml.SequenceNode {
		m.deps = deps.Content
	}
	return m, nil
}

func (l *Loader) roleVarsFile(dir, sub, base string) (map[string]any, error) {
	path, doc, err := l.roleFile(dir, sub, base)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return l.roleVarsDir(filepath.Join(dir, sub, base))
	}
	vars := map[string]any{}
	if doc == nil {
		return vars, nil
	}
	if err := l.decode(path, doc, &vars, "a mapping of variables"); err != nil {
		return nil, err
	}
	return vars, nil
}

// roleVarsDir reads defaults/main/ or vars/main/ when it is a directory
// (kubespray_defaults): every file in it and below, sorted by name, with
// Ansible's vars extensions (none, .yml, .yaml, .json), hidden files and
// backups~ skipped; a later file's top-level keys replace an earlier's.
func (l *Loader) roleVarsDir(dir string) (map[string]any, error) {
	vars := map[string]any{}
	files, err := varsDirFiles(dir)
	if err != nil {
		return vars, nil // no such directory: the role has no such vars
	}
	for _, f := range files {
		doc, err := l.parseFile(f)
		if err != nil {
			if strings.HasSuffix(err.Error(), "file is empty") {
				continue
			}
			return nil, err
		}
		one := map[string]any{}
		if err := l.decode(f, doc, &one, "a mapping of variables"); err != nil {
			return nil, err
		}
		for k, v := range one {
			vars[k] = v
		}
	}
	return vars, nil
}

func varsDirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name, as Ansible's sorted()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		full, ext := filepath.Join(dir, name), filepath.Ext(name)
		st, err := os.Stat(full) // follows links, as os.path.isdir does
		switch {
		case err != nil:
		case st.IsDir() && ext == "":
			sub, err := varsDirFiles(full)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case st.Mode().IsRegular() && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			out = append(out, full)
		}
	}
	return out, nil
}

func (l *Loader) roleTasks(dir, sub, base string, handlers bool, depth int) ([]*Task, error) {
	path, doc, err := l.roleFile(dir, sub, base)
	if err != nil || doc == nil {
		return nil, err
	}
	return l.tasks(path, doc, handlers, depth+1)
}

// roleFile reads dir/sub/base with Ansible's extensions (.yml, .yaml, none);
// a missing file is not an error (nil node), as in Ansible.
func (l *Loader) roleFile(dir, sub, base string) (string, *yaml.Node, error) {
	for _, ext := range []string{"", ".yml", ".yaml"} {
		if ext == "" && !strings.Contains(filepath.Base(base), ".") && base != "main" {
			continue
		}
		path := filepath.Join(dir, sub, base+ext)
		if _, err := l.ReadFile(path); errors.Is(err, fs.ErrNotExist) || isDirErr(err) {
			continue
		}
		doc, err := l.parseFile(path)
		if err != nil && strings.HasSuffix(err.Error(), "file is empty") {
			return path, nil, nil
		}
		return path, doc, err
	}
	return "", nil, nil
}

func isDirErr(err error) bool { return err != nil && strings.Contains(err.Error(), "is a directory") }

// findRole searches as Ansible does: roles/ beside the playbook, then
// roles_path (ANSIBLE_ROLES_PATH or ansible.cfg), then beside the playbook.
// A name ns.coll.role is a role of an installed collection; a plain name
// used from inside a collection's role is first looked up among that
// collection's roles (Ansible puts a role's own collection first).
func (l *Loader) findRole(from, name string) (string, error) {
	base := filepath.Dir(l.root)
	if filepath.IsAbs(name) {
		if !l.isRole(name) {
			return "", fmt.Errorf("role %q: not a role directory", name)
		}
		return name, nil
	}
	if ns, coll, role, ok := splitFQCN(name); ok && !strings.Contains(name, "/") {
		return l.findCollectionRole(base, ns, coll, role)
	}
	var dirs []string
	if own := collectionRolesDir(from); own != "" {
		dirs = append(dirs, own)
	}
	dirs = append(dirs, filepath.Join(base, "roles"))
	dirs = append(dirs, l.rolesPath(base)...)
	if b := filepath.Base(from); filepath.Base(filepath.Dir(from)) == "meta" && (b == "main.yml" || b == "main.yaml" || b == "main") {
		// a dependency is also found beside the role that depends on it
		// (ansible-core's role_basedir: kubespray's policy_controller/calico
		// from roles/kubernetes-apps/policy_controller)
		dirs = append(dirs, filepath.Dir(filepath.Dir(filepath.Dir(from))))
	}
	dirs = append(dirs, base)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if l.isRole(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("role %q not found in %s", name, strings.Join(dirs, ", "))
}

// isRole: a directory with any of a role's main files.
func (l *Loader) isRole(dir string) bool {
	for _, sub := range []string{"tasks", "handlers", "defaults", "vars", "meta"} {
		if p, _, _ := l.roleFile(dir, sub, "main"); p != "" {
			return true
		}
	}
	for _, sub := range []string{"defaults", "vars"} {
		if st, err := os.Stat(filepath.Join(dir, sub, "main")); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// rolesPath is Ansible's roles_path: ANSIBLE_ROLES_PATH, else ansible.cfg's
// (see ansiblecfg.Find), else ansible-core's default.
func (l *Loader) rolesPath(base string) []string {
	return l.config(base).PathList([]string{"ANSIBLE_ROLES_PATH"}, []string{"roles_path"},
		"~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles")
}

// config is the ansible.cfg in effect, read once per load.
func (l *Loader) config(base string) ansiblecfg.Config {
	if l.cfg == nil {
		c := ansiblecfg.Find(base)
		l.cfg = &c
	}
	return *l.cfg
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// includeRole loads include_role/import_role statically, so the role is
// validated before anything runs. The task's vars are the role's params.
func (l *Loader) includeRole(file string, v *yaml.Node, t *Task, depth int) error {
	var args struct {
		Name         string `yaml:"name"`
		TasksFrom    string `yaml:"tasks_from"`
		VarsFrom     string `yaml:"vars_from"`
		DefaultsFrom string `yaml:"defaults_from"`
		HandlersFrom string `yaml:"handlers_from"`
		Public       bool   `yaml:"public"`
		Dups         bool   `yaml:"allow_duplicates"`
		Validate     bool   `yaml:"rolespec_validate"`
		Apply        struct {
			Tags        []string `yaml:"tags"`
			Become      *bool    `yaml:"become"`
			BecomeUser  string   `yaml:"become_user"`
			Environment any      `yaml:"environment"`
		} `yaml:"apply"`
	}
	if v.Kind == yaml.ScalarNode {
		args.Name = v.Value
	} else if err := v.Decode(&args); err != nil {
		return l.errf(file, v, "include_role: %v", err)
	}
	t.Public = t.Dynamic && args.Public
	name, err := l.static(file, &yaml.Node{Kind: yaml.ScalarNode, Value: args.Name, Line: v.Line})
	if t.Dynamic && template.IsTemplate(args.Name) && (err != nil || !l.knownAtLoad(args.Name)) {
		// include_role, unlike import_role, may name its role from host
		// variables: the engine loads it when the task runs (LoadRole). The
		// template itself is checked now.
		if _, err := l.tpl.Refs(args.Name); err != nil {
			return l.errf(file, v, "include_role name: %v", err)
		}
		if err := l.tpl.Unknown(args.Name); err != nil {
			return l.errf(file, v, "include_role name: %v", err)
		}
		t.IncludeRole = &DynamicRole{Name: args.Name, file: file, node: v, root: l.root}
		t.Include = []*Task{}
		return nil
	}
	if err != nil {
		return l.errf(file, v, "import_role name %q must be known before the run (a variable from -e, or a literal; include_role may use host variables)", args.Name)
	}
	// import_role is static, and ansible-core adds a statically loaded role
	// to the play's roles; an include_role runs when reached, and keeps its
	// variables to itself unless public (Task.Public: the engine adds them
	// once it has run).
	use := roleUse{name: name, tasksFrom: args.TasksFrom, varsFrom: args.VarsFrom, defaultsFrom: args.DefaultsFrom,
		handlersFrom: args.HandlersFrom, params: t.Vars, export: !t.Dynamic}
	role, tasks, err := l.loadRole(file, v, use, depth+1)
	if err != nil {
		return err
	}
	t.Role, t.Include = role, tasks
	if t.Include == nil {
		t.Include = []*Task{}
	}
	t.Tags = append(t.Tags, args.Apply.Tags...)
	if args.Apply.Become != nil {
		t.Become = args.Apply.Become
	}
	t.BecomeUser = or(args.Apply.BecomeUser, t.BecomeUser)
	if args.Apply.Environment != nil {
		t.Environment = args.Apply.Environment
	}
	return nil
}

// knownAtLoad reports whether every variable src names is an extra var:
// only then is its value at load the value it has when the task runs.
func (l *Loader) knownAtLoad(src string) bool {
	refs, err := l.tpl.Refs(src)
	if err != nil {
		return false
	}
	for _, r := range refs {
		if _, ok := l.Vars[strings.SplitN(r, ".", 2)[0]]; !ok {
			return false
		}
	}
	return true
}

// LoadRole loads the role of an include_role whose name is known only now,
// as name, for one host: the task it returns wraps the role's tasks like a
// static include_role's, and handlers are the role's handlers, each
// wrapped to run with the role's variables.
func LoadRole(d *DynamicRole, name string, params map[string]any) (t *Task, handlers []*Task, err error) {
	l := &Loader{ReadFile: os.ReadFile, root: d.root}
	l.tpl = template.New()
	l.tpl.FilterResolver = l.pythonFilter
	l.rolesRun, l.handlersSeen = map[string]bool{}, map[string]bool{}
	node := &yaml.Node{Kind: yaml.ScalarNode, Value: name, Line: d.node.Line, Column: d.node.Column}
	if d.node.Kind == yaml.MappingNode {
		clone := *d.node
		clone.Content = slices.Clone(d.node.Content)
		for i := 0; i+1 < len(clone.Content); i += 2 {
			if clone.Content[i].Value == "name" {
				clone.Content[i+1] = node
			}
		}
		node = &clone
	}
	t = &Task{Dynamic: true, Vars: params}
	l.report(l.includeRole(d.file, node, t, 1))
	if len(l.errs) > 0 {
		return nil, nil, LoadErrors(l.errs)
	}
	if err := l.resolveTaskRefs(append(slices.Clone(t.Include), l.roleHandlers...)); err != nil {
		return nil, nil, err
	}
	return t, l.roleHandlers, nil
}

// LoadTasks reads a task file at run time: an include_tasks whose path
// depends on host variables. It is validated as strictly as at load time.
func LoadTasks(path string) ([]*Task, error) {
	l := &Loader{ReadFile: os.ReadFile, root: path}
	l.tpl = template.New()
	l.tpl.FilterResolver = l.pythonFilter
	l.rolesRun, l.handlersSeen = map[string]bool{}, map[string]bool{}
	doc, err := l.parseFile(path)
	if err != nil {
		return nil, err
	}
	l.including = []string{path}
	tasks, err := l.tasks(path, doc, false, 1)
	l.report(err)
	if len(l.errs) > 0 {
		return nil, LoadErrors(l.errs)
	}
	if err := l.resolveTaskRefs(tasks); err != nil {
		return nil, err
	}
	return tasks, nil
}
