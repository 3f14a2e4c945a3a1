package playbooks

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/internal/ansiblecfg"
	"github.com/gpuctl/gpuctl/internal/suggest"
	"github.com/gpuctl/gpuctl/internal/yaml11"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/pymodule"
	"github.com/gpuctl/gpuctl/template"
	"github.com/gpuctl/gpuctl/vault"
)

// Loader reads playbooks and the files they import. ReadFile defaults to
// os.ReadFile; bundled playbooks use an embedded filesystem instead.
type Loader struct {
	ReadFile func(path string) ([]byte, error)
	// Vars are extra variables (-e) visible to static parts (hosts, imports).
	Vars map[string]any
	// Vault opens vault-encrypted vars_files and `!vault` values in them.
	Vault   []vault.Secret
	secrets []string // decrypted values, for the engine to mask
	tpl     *template.Engine
	root    string // the top playbook: roles are searched beside it
	cfg     *ansiblecfg.Config
	// per play: roles already run (dedup) and the handlers roles bring
	rolesRun     map[string]bool
	handlersSeen map[string]bool
	exported     []*Role // this play's roles whose variables the whole play sees
	roleHandlers []*Task
	errs         []error // every load error, reported together
	// Python modules (pymodules.go): the roles loaded so far, whose
	// library/ directories hold modules, the play's collections:, and the
	// modules found, one Source per file.
	roleDirs        []string
	including       []string // the task files being read, outermost first
	playCollections []string
	pySpecs         map[string]*modules.Spec
	pySources       map[string]*pymodule.Source
	core            string
	coreErr         error
	builtinRouting  map[string]string // ansible-core's short-name redirects
	// Warnings are "file:line: message" notes on content that loads but
	// does less than it seems to (a deprecated no-op argument), for the
	// caller to show before the run.
	Warnings []string
}

// LoadErrors is every error of a playbook, in file order: a user fixes
// them in one pass instead of one run per error.
type LoadErrors []error

func (e LoadErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = "  * " + err.Error()
	}
	return fmt.Sprintf("%d errors:\n%s", len(e), strings.Join(lines, "\n"))
}

func (e LoadErrors) Unwrap() []error { return e }

// Secrets are the values decrypted from vaulted vars_files, to be masked in
// all output as the inventory's are.
func (l *Loader) Secrets() []string { return l.secrets }

// report keeps an error and lets loading go on with the next task or key.
func (l *Loader) report(err error) {
	if err != nil {
		l.errs = append(l.errs, err)
	}
}

// ErrInvalid wraps every load error, so callers can tell a broken playbook
// (exit before touching hosts) from a failed run.
var ErrInvalid = errors.New("invalid playbook")

// Load parses the playbook at path and every file it imports, and validates
// every task.
func (l *Loader) Load(path string) (*Playbook, error) {
	if l.ReadFile == nil {
		l.ReadFile = os.ReadFile
	}
	l.tpl = template.New()
	l.root = path
	l.cfg = nil
	l.errs = nil
	l.tpl.FilterResolver = l.pythonFilter // pymodules.go
	pb := &Playbook{Path: path}
	l.report(l.loadInto(pb, path, 0))
	if len(l.errs) > 0 {
		return nil, LoadErrors(l.errs)
	}
	l.collectionFilters()
	pb.PythonFilters = l.tpl.PythonFilters()
	if err := l.resolveRefs(pb); err != nil {
		return nil, err
	}
	return pb, nil
}

func (l *Loader) errf(file string, n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return fmt.Errorf("%w: %s:%d: %s", ErrInvalid, file, line, fmt.Sprintf(format, args...))
}

func (l *Loader) parseFile(path string) (*yaml.Node, error) {
	data, err := l.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// yaml.v3 errors already carry "line N"; prefix the file.
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%w: %s: file is empty", ErrInvalid, path)
	}
	yaml11.Fix(&root)
	return root.Content[0], nil
}

func (l *Loader) loadInto(pb *Playbook, path string, depth int) error {
	if depth > 20 {
		return fmt.Errorf("%w: %s: import_playbook nested too deeply (a cycle?)", ErrInvalid, path)
	}
	doc, err := l.parseFile(path)
	if err != nil {
		return err
	}
	if doc.Kind != yaml.SequenceNode {
		return l.errf(path, doc, "a playbook is a list of plays")
	}
	for _, pn := range doc.Content {
		if pn.Kind != yaml.MappingNode {
			return l.errf(path, pn, "each play must be a mapping")
		}
		if imp := importPlaybookKey(pn); imp != nil {
			if err := l.importPlaybook(pb, path, pn, imp, depth); err != nil {
				return err
			}
			continue
		}
		play, err := l.play(path, pn)
		if err != nil {
			l.report(err)
			continue
		}
		pb.Plays = append(pb.Plays, play)
	}
	return nil
}

// importPlaybookKey is the value of import_playbook, spelt short or as
// ansible.builtin.import_playbook (kubespray's cluster.yml), or nil.
func importPlaybookKey(pn *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(pn.Content); i += 2 {
		switch pn.Content[i].Value {
		case "import_playbook", "ansible.builtin.import_playbook", "ansible.legacy.import_playbook":
			return pn.Content[i+1]
		}
	}
	return nil
}

// importPlaybook loads the plays of an imported playbook into pb. As in
// ansible-core, the import's vars override each imported play's own, and
// its tags are added to each play's.
func (l *Loader) importPlaybook(pb *Playbook, path string, pn, imp *yaml.Node, depth int) error {
	var vars map[string]any
	var tags, when []string
	for i := 0; i+1 < len(pn.Content); i += 2 {
		k, v := pn.Content[i], pn.Content[i+1]
		var err error
		switch k.Value {
		case "import_playbook", "ansible.builtin.import_playbook", "ansible.legacy.import_playbook", "name":
		case "vars":
			err = l.decode(path, v, &vars, "a mapping")
		case "tags":
			tags, err = l.strList(path, v)
		case "when":
			when, err = l.strList(path, v)
		default:
			err = l.errf(path, k, "import_playbook: unknown keyword %q (it takes name, vars, tags and when)", k.Value)
		}
		if err != nil {
			return err
		}
	}
	target, err := l.static(path, imp)
	if err != nil {
		return err
	}
	first := len(pb.Plays)
	if err := l.loadInto(pb, resolve(path, target), depth+1); err != nil {
		return err
	}
	for _, p := range pb.Plays[first:] {
		if len(vars) > 0 {
			merged := make(map[string]any, len(p.Vars)+len(vars))
			for k, v := range p.Vars {
				merged[k] = v
			}
			for k, v := range vars {
				merged[k] = v
			}
			p.Vars = merged
		}
		for _, t := range tags {
			if !slices.Contains(p.Tags, t) {
				p.Tags = append(p.Tags, t)
			}
		}
		if len(when) > 0 {
			// ansible-core's PlaybookInclude: the condition goes before
			// each top-level task's own, in pre_tasks, roles, tasks and
			// post_tasks (handlers run only when notified), and on the
			// play's fact gathering
			for _, t := range slices.Concat(p.PreTasks, p.Roles, p.Tasks, p.PostTasks) {
				t.When = append(slices.Clone(when), t.When...)
			}
			p.GatherWhen = append(slices.Clone(when), p.GatherWhen...)
		}
	}
	return nil
}

var playKeys = []string{"name", "hosts", "vars", "vars_files", "become", "become_user", "become_method", "gather_facts",
	"connection", "serial", "tags", "pre_tasks", "tasks", "post_tasks", "handlers", "environment", "any_errors_fatal", "strategy", "roles", "max_fail_percentage", "run_once", "remote_user", "ignore_unreachable", "module_defaults", "diff", "collections", "vars_prompt", "port"}

// templatedPlayKeywords may be templates (kubespray: any_errors_fatal: "{{
// any_errors_fatal | default(true) }}"). As ansible-core does, gpuctl
// renders them once per play, with the play's vars and extra vars: no host
// is in scope for a play keyword.
var templatedPlayKeywords = []string{"any_errors_fatal", "become", "gather_facts", "run_once", "remote_user", "ignore_unreachable", "serial", "max_fail_percentage"}

func (l *Loader) templatedPlayKeyword(file string, k, v *yaml.Node, p *Play) error {
	vars := make(map[string]any, len(p.Vars)+len(l.Vars))
	for k, v := range p.Vars {
		vars[k] = v
	}
	for k, v := range l.Vars {
		vars[k] = v
	}
	out, err := l.tpl.Render(v.Value, vars)
	if err != nil {
		return l.errf(file, v, "%s: %v (a play keyword sees only the play's vars and extra vars)", k.Value, err)
	}
	rendered := &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(fmt.Sprint(out)), Line: v.Line, Column: v.Column}
	if ok, err := l.fleetPlayKey(file, k, rendered, p); ok {
		return err
	}
	switch k.Value {
	case "become":
		p.Become, err = l.boolPtr(file, rendered)
	case "gather_facts":
		p.GatherFacts, err = l.boolPtr(file, rendered)
	case "run_once":
		p.RunOnce, err = l.boolVal(file, rendered)
	case "remote_user":
		p.RemoteUser = rendered.Value
	case "ignore_unreachable":
		p.IgnoreUnreachable, err = l.boolPtr(file, rendered)
	}
	return err
}

// runOnce gives every task under a run_once play run_once, as its tasks
// inherit it in ansible-core.
func runOnce(tasks []*Task) {
	for _, t := range tasks {
		t.RunOnce = true
		for _, sub := range [][]*Task{t.Block, t.Rescue, t.Always, t.Include} {
			runOnce(sub)
		}
	}
}

func (l *Loader) play(file string, n *yaml.Node) (*Play, error) {
	p := &Play{Pos: Pos{file, n.Line}, Vars: map[string]any{}}
	l.rolesRun, l.handlersSeen, l.roleHandlers, l.exported = map[string]bool{}, map[string]bool{}, nil, nil
	l.playCollections = nil
	if c := mapGet(n, "collections"); c != nil {
		l.playCollections, _ = l.strList(file, c) // an error is reported with the keyword below
	}
	var templated []*yaml.Node // key, value pairs of play keywords known once the play's vars are
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if slices.Contains(templatedPlayKeywords, k.Value) && v.Kind == yaml.ScalarNode && template.IsTemplate(v.Value) {
			templated = append(templated, k, v)
			continue
		}
		if ok, err := l.fleetPlayKey(file, k, v, p); ok { // fleet.go
			l.report(err)
			continue
		}
		var err error
		switch k.Value {
		case "name":
			p.Name, err = l.str(file, v)
		case "hosts":
			p.Hosts, err = l.hostsPattern(file, v)
		case "vars":
			err = l.decode(file, v, &p.Vars, "a mapping")
		case "vars_files":
			p.VarsFiles, err = l.varsFilesList(file, v)
		case "become":
			p.Become, err = l.boolPtr(file, v)
		case "become_user":
			p.BecomeUser, err = l.str(file, v)
		case "gather_facts":
			p.GatherFacts, err = l.boolPtr(file, v)
		case "connection":
			p.Connection, err = l.str(file, v)
		case "tags":
			p.Tags, err = l.strList(file, v)
		case "environment":
			err = l.decode(file, v, &p.Environment, "a mapping or an expression")
		case "module_defaults":
			p.ModuleDefaults, err = l.moduleDefaults(file, v)
		case "diff":
			p.Diff, err = l.boolPtr(file, v)
		case "port":
			p.Port, err = l.intVal(file, v)
		case "vars_prompt":
			p.VarsPrompt, err = l.varsPrompt(file, v)
		case "collections":
			// ansible-core searches these namespaces for short names;
			// gpuctl resolves every short name it knows (modules.Canonical),
			// so the list only needs to be well formed
			_, err = l.strList(file, v)
		case "roles":
			p.Roles, err = l.roles(file, v)
		case "pre_tasks":
			p.PreTasks, err = l.tasks(file, v, false, 0)
		case "tasks":
			p.Tasks, err = l.tasks(file, v, false, 0)
		case "post_tasks":
			p.PostTasks, err = l.tasks(file, v, false, 0)
		case "handlers":
			p.Handlers, err = l.tasks(file, v, true, 0)
		case "become_method":
			// accepted for compatibility; gpuctl always uses sudo
		case "run_once":
			p.RunOnce, err = l.boolVal(file, v)
		case "remote_user":
			p.RemoteUser, err = l.str(file, v)
		case "ignore_unreachable":
			p.IgnoreUnreachable, err = l.boolPtr(file, v)
		default:
			err = l.errf(file, k, "unknown play keyword %q%s", k.Value, suggestFrom(k.Value, playKeys))
		}
		l.report(err)
	}
	if p.Hosts == "" {
		return nil, l.errf(file, n, "play %q has no hosts", p.Name)
	}
	l.report(l.readVarsFiles(p))
	for i := 0; i+1 < len(templated); i += 2 {
		l.report(l.templatedPlayKeyword(file, templated[i], templated[i+1], p))
	}
	if p.RunOnce {
		for _, list := range [][]*Task{p.PreTasks, p.Roles, p.Tasks, p.PostTasks} {
			runOnce(list)
		}
	}
	p.Handlers = append(p.Handlers, l.roleHandlers...)
	p.RoleDefaults, p.RoleVars = map[string]any{}, map[string]any{}
	for _, r := range l.exported {
		maps.Copy(p.RoleDefaults, r.Defaults)
		maps.Copy(p.RoleVars, r.Vars)
	}
	inheritIgnoreUnreachable(p) // async.go
	if err := l.checkNotify(p); err != nil {
		return nil, err
	}
	return p, nil
}

// hostsPattern renders a play's hosts with extra vars: it is static, so an
// undefined variable there is a load error, not a run-time surprise.
func (l *Loader) hostsPattern(file string, v *yaml.Node) (string, error) {
	var s string
	if v.Kind == yaml.SequenceNode {
		parts, err := l.strList(file, v)
		if err != nil {
			return "", err
		}
		s = strings.Join(parts, ":")
	} else {
		var err error
		if s, err = l.str(file, v); err != nil {
			return "", err
		}
	}
	if template.IsTemplate(s) {
		out, err := l.tpl.RenderString(s, l.Vars)
		if err != nil {
			return "", l.errf(file, v, "hosts: %v", err)
		}
		s = out
	}
	return s, nil
}

func (l *Loader) roles(file string, n *yaml.Node) ([]*Task, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(file, n, "roles must be a list, got %s", kindName(n))
	}
	var out []*Task
	for _, rn := range n.Content {
		t, err := l.playRole(file, rn, 0, true)
		if err != nil {
			l.report(err)
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func (l *Loader) checkNotify(p *Play) error {
	names := map[string]bool{}
	for _, h := range p.Handlers {
		names[h.Name] = true
		for _, ln := range h.Listen {
			names[ln] = true
		}
	}
	var walk func([]*Task) error
	walk = func(ts []*Task) error {
		for _, t := range ts {
			for _, n := range t.Notify {
				if !names[n] && !template.IsTemplate(n) {
					// ansible-core fails such a task only when it changes
					// something (a yum branch a Debian host never takes
					// notifies a handler only its RedHat play defines), and
					// so does the engine: a warning here, not an error
					l.Warnings = append(l.Warnings, fmt.Sprintf("%s: notifies handler %q, which the play does not define; the task fails if it changes something", t.Where(), n))
				}
			}
			for _, sub := range [][]*Task{t.Block, t.Rescue, t.Always, t.Include} {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(p.AllTasks())
}

func (l *Loader) static(file string, n *yaml.Node) (string, error) {
	s, err := l.str(file, n)
	if err != nil {
		return "", err
	}
	if template.IsTemplate(s) {
		if s, err = l.tpl.RenderString(s, l.Vars); err != nil {
			return "", l.errf(file, n, "%v", err)
		}
	}
	return s, nil
}

func (l *Loader) str(file string, n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", l.errf(file, n, "expected a string, got %s", kindName(n))
	}
	return n.Value, nil
}

func (l *Loader) strList(file string, n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return nil, nil
		}
		if strings.Contains(n.Value, ",") && !template.IsTemplate(n.Value) {
			var out []string
			for _, s := range strings.Split(n.Value, ",") {
				out = append(out, strings.TrimSpace(s))
			}
			return out, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, l.errf(file, c, "expected a string in the list, got %s", kindName(c))
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, l.errf(file, n, "expected a string or a list of strings, got %s", kindName(n))
}

// exprList reads conditions and handler names: a string is one item, commas
// and all, unlike tags.
func (l *Loader) exprList(file string, n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	}
	return l.strList(file, n)
}

func (l *Loader) boolPtr(file string, n *yaml.Node) (*bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			b := true
			return &b, nil
		case "false", "no", "off":
			b := false
			return &b, nil
		}
	}
	return nil, l.errf(file, n, "expected true or false, got %q", n.Value)
}

// boolVal reads a keyword that is false when absent.
func (l *Loader) boolVal(file string, n *yaml.Node) (bool, error) {
	b, err := l.boolPtr(file, n)
	return b != nil && *b, err
}

func (l *Loader) intVal(file string, n *yaml.Node) (int, error) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, nil
		}
	}
	return 0, l.errf(file, n, "expected an integer, got %q", n.Value)
}

func (l *Loader) decode(file string, n *yaml.Node, out any, what string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if err := n.Decode(out); err != nil {
		return l.errf(file, n, "expected %s", what)
	}
	return nil
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// resolve makes an imported path relative to the importing file.
// varsFilesList reads a play's vars_files: each entry a path, or a list
// of paths of which the first that exists is read.
func (l *Loader) varsFilesList(file string, n *yaml.Node) ([]VarsFile, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(file, n, "vars_files must be a list, got %s", kindName(n))
	}
	var out []VarsFile
	for _, e := range n.Content {
		vf := VarsFile{Dir: filepath.Dir(file), Pos: Pos{file, e.Line}}
		if e.Kind == yaml.SequenceNode {
			paths, err := l.strList(file, e)
			if err != nil {
				return nil, err
			}
			vf.Paths = paths
		} else {
			path, err := l.str(file, e)
			if err != nil {
				return nil, err
			}
			vf.Paths = []string{path}
		}
		if len(vf.Paths) == 0 {
			return nil, l.errf(file, e, "vars_files: an empty list of alternatives")
		}
		out = append(out, vf)
	}
	return out, nil
}

// readVarsFiles reads the vars_files known at load over the play's vars,
// which they outrank in ansible-core. Entries from the first one that names
// a template on are left in p.VarsFiles for the engine to read per host,
// once that host's facts are known; the files among them that are known
// now are read now, for their errors to come at load.
func (l *Loader) readVarsFiles(p *Play) error {
	files := p.VarsFiles
	p.VarsFiles = nil
	for i := range files {
		vf := &files[i]
		templated := slices.ContainsFunc(vf.Paths, template.IsTemplate)
		if templated && p.VarsFiles == nil {
			p.VarsFiles = files[i:]
		}
		if templated {
			continue
		}
		vars, secrets, err := ReadVarsFile(vf.Dir, vf.Paths, l.ReadFile, l.Vault)
		if err != nil {
			return fmt.Errorf("%w: %s: vars_files: %w", ErrInvalid, vf.Pos, err)
		}
		l.secrets = append(l.secrets, secrets...)
		if p.VarsFiles != nil {
			vf.Vars = vars
			continue
		}
		maps.Copy(p.Vars, vars)
	}
	return nil
}

// ReadVarsFile reads the first of paths (relative to dir) that exists, as
// ansible-core reads a vars_files entry, vault-encrypted or not; it returns
// the variables and the decrypted strings to mask.
func ReadVarsFile(dir string, paths []string, read func(string) ([]byte, error), secrets []vault.Secret) (map[string]any, []string, error) {
	for _, p := range paths {
		path := p
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := read(path)
		if errors.Is(err, fs.ErrNotExist) && len(paths) > 1 {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return vault.Vars(path, data, secrets)
	}
	return nil, nil, fmt.Errorf("none of %s was found", strings.Join(paths, ", "))
}

func resolve(from, target string) string {
	if filepath.IsAbs(target) {
		return target
	}
	return filepath.Join(filepath.Dir(from), target)
}

func suggestFrom(s string, options []string) string { return suggest.Hint(s, options) }
