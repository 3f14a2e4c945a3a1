package playbooks

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/template"
)

var taskKeys = []string{"name", "when", "loop", "with_items", "loop_control", "register", "notify", "listen", "tags",
	"changed_when", "failed_when", "ignore_errors", "check_mode", "become", "become_user", "delegate_to", "delegate_facts", "run_once",
	"no_log", "vars", "args", "environment", "until", "retries", "delay", "block", "rescue", "always",
	"with_dict", "with_fileglob", "with_first_found", "with_together", "with_subelements", "with_sequence", "with_nested",
	"with_list", "with_indexed_items", "import_tasks", "include_tasks", "include_role", "import_role", "become_method", "timeout",
	"throttle", "any_errors_fatal", "action", "local_action", "connection", "async", "poll", "ignore_unreachable", "module_defaults", "diff", "collections"}

func (l *Loader) tasks(file string, n *yaml.Node, handlers bool, depth int) ([]*Task, error) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(file, n, "tasks must be a list, got %s", kindName(n))
	}
	var out []*Task
	for _, tn := range n.Content {
		t, err := l.task(file, tn, handlers, depth)
		if err != nil {
			l.report(err)
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func (l *Loader) task(file string, n *yaml.Node, handler bool, depth int) (*Task, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errf(file, n, "a task must be a mapping, got %s", kindName(n))
	}
	t := &Task{Pos: Pos{file, n.Line}}
	if nn := mapGet(n, "name"); nn != nil {
		t.Name = nn.Value
	}
	var modNode, modKey, argsNode, asyncNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "async" {
			asyncNode = k
		}
		ok, err := l.templatedKeyword(file, k, v, t) // keywords.go
		if !ok {
			ok, err = l.fleetTaskKey(file, k, v, t) // fleet.go
		}
		if !ok {
			ok, err = l.asyncTaskKey(file, k, v, t) // async.go
		}
		if ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch keyword(k.Value) {
		case "name":
		case "when":
			t.When, err = l.exprList(file, v)
		case "changed_when":
			t.ChangedWhen, err = l.exprList(file, v)
		case "failed_when":
			t.FailedWhen, err = l.exprList(file, v)
		case "until":
			t.Until, err = l.exprList(file, v)
		case "loop", "with_items":
			err = v.Decode(&t.Loop)
		case "with_dict", "with_fileglob", "with_first_found", "with_together", "with_subelements", "with_sequence",
			"with_nested", "with_list", "with_indexed_items", "with_flattened", "with_cartesian":
			err = v.Decode(&t.Loop)
			t.LoopWith = strings.TrimPrefix(keyword(k.Value), "with_")
		case "loop_control":
			err = l.loopControl(file, v, t)
		case "register":
			t.Register, err = l.str(file, v)
		case "notify":
			t.Notify, err = l.exprList(file, v)
		case "listen":
			t.Listen, err = l.exprList(file, v)
		case "tags":
			t.Tags, err = l.strList(file, v)
		case "ignore_errors":
			t.IgnoreErrors, err = l.boolVal(file, v)
		case "check_mode":
			t.CheckMode, err = l.boolPtr(file, v)
		case "become":
			t.Become, err = l.boolPtr(file, v)
		case "become_user":
			t.BecomeUser, err = l.str(file, v)
		case "delegate_to":
			t.DelegateTo, err = l.str(file, v)
		case "delegate_facts":
			t.DelegateFacts, err = l.boolVal(file, v)
		case "run_once":
			t.RunOnce, err = l.boolVal(file, v)
		case "no_log":
			t.NoLog, err = l.boolVal(file, v)
		case "vars":
			err = l.decode(file, v, &t.Vars, "a mapping")
		case "environment":
			err = l.decode(file, v, &t.Environment, "a mapping or an expression")
		case "module_defaults":
			t.ModuleDefaults, err = l.moduleDefaults(file, v)
		case "diff":
			t.Diff, err = l.boolPtr(file, v)
		case "collections":
			_, err = l.strList(file, v) // as the play keyword (load.go)
		case "retries":
			t.Retries, err = l.intVal(file, v)
		case "delay":
			t.Delay, err = l.intVal(file, v)
		case "args":
			argsNode = v
		case "block":
			t.Block, err = l.tasks(file, v, handler, depth)
			if t.Block == nil && err == nil {
				// empty, or every task in it was reported already: still a
				// block, not a task missing its module
				t.Block = []*Task{}
			}
		case "rescue":
			t.Rescue, err = l.tasks(file, v, handler, depth)
		case "always":
			t.Always, err = l.tasks(file, v, handler, depth)
		case "import_tasks", "include_tasks":
			var target string
			t.Dynamic = keyword(k.Value) == "include_tasks"
			if target, err = l.static(file, v); err != nil && t.Dynamic && template.IsTemplate(v.Value) {
				// known per host only: loaded when the include runs
				t.IncludeFile, t.Include, err = resolve(file, v.Value), []*Task{}, nil
			} else if path := resolve(file, target); err == nil && t.Dynamic && slices.Contains(l.including, path) {
				// a file that includes itself (a retry loop ended by its
				// own when, kubespray's calico update-node.yml): as in
				// ansible-core, the next level is read when it runs
				t.IncludeFile, t.Include = path, []*Task{}
			} else if err == nil {
				if depth > 20 {
					return nil, l.errf(file, v, "%s nested too deeply (a cycle?)", k.Value)
				}
				var doc *yaml.Node
				if doc, err = l.parseFile(path); err == nil {
					l.including = append(l.including, path)
					t.Include, err = l.tasks(path, doc, handler, depth+1)
					l.including = l.including[:len(l.including)-1]
					if t.Include == nil && err == nil {
						t.Include = []*Task{}
					}
				}
			}
		case "include_role", "import_role":
			t.Dynamic = keyword(k.Value) == "include_role"
			err = l.includeRole(file, v, t, depth)
		case "become_method", "timeout":
		case "connection":
			err = l.taskConnection(file, v, t)
		case "action", "local_action":
			if modNode != nil {
				return nil, l.errf(file, k, "task %q names two modules, %q and %q", t.Title(), modKey.Value, k.Value)
			}
			if modKey, modNode, err = l.actionModule(file, k, v); err != nil {
				return nil, err
			}
			if k.Value == "local_action" {
				t.DelegateTo = "localhost"
			}
		default:
			if lk, ok := strings.CutPrefix(keyword(k.Value), "with_"); ok { // with_<lookup>: with.go
				if err = checkWithLookup(lk); err == nil {
					err = v.Decode(&t.Loop)
					t.LoopWith = lk
				}
				break
			}
			if modNode != nil {
				if isKnownModule(k.Value) {
					return nil, l.errf(file, k, "task %q names two modules, %q and %q", t.Title(), modKey.Value, k.Value)
				}
				title := t.Name
				if title == "" {
					title = modKey.Value
				}
				return nil, l.errf(file, k, "task %q: unknown keyword %q%s", title, k.Value, suggestFrom(k.Value, taskKeys))
			}
			modKey, modNode = k, v
		}
		if err != nil {
			var inv error = err
			if !errors.Is(err, ErrInvalid) {
				inv = l.errf(file, v, "%s: %v", k.Value, err)
			}
			return nil, inv
		}
	}
	if t.Role != nil && len(t.Vars) > 0 {
		t.Role.Params = t.Vars // include_role's vars are the role's params
	}
	if handler && t.Name == "" && len(t.Listen) == 0 {
		return nil, l.errf(file, n, "a handler needs a name or listen")
	}
	structural := t.Block != nil || t.Include != nil
	switch {
	case modNode == nil && !structural:
		return nil, l.errf(file, n, "task %q has no module", t.Title())
	case modNode != nil && structural:
		return nil, l.errf(file, modKey, "task %q: unknown keyword %q (a block or include takes no module)%s", t.Title(), modKey.Value, suggestFrom(modKey.Value, taskKeys))
	case modNode == nil:
		return t, l.checkAsync(file, asyncNode, t) // async.go
	}
	spec, err := modules.Resolve(modKey.Value)
	if err != nil {
		title := t.Name
		if title == "" {
			title = modKey.Value // not "include", which Title gives a task without a module
		}
		// Not a Go module: Ansible's Python module of that name, if the
		// content or an installed collection has one (pymodules.go).
		py, found, perr := l.pythonModule(file, modKey.Value)
		switch {
		case perr != nil:
			return nil, l.errf(file, modKey, "task %q: %v", title, perr)
		case !found:
			return nil, l.errf(file, modKey, "task %q: %v%s%s", title, err, equivalentHint(modules.Canonical(modKey.Value)), l.missingHint(modKey.Value))
		}
		spec = py
	}
	t.Module, t.Spec = spec.Name, spec
	args, err := l.moduleArgs(file, spec, modNode)
	if err != nil {
		return nil, err
	}
	if argsNode != nil {
		var extra map[string]any
		if err := l.decode(file, argsNode, &extra, "a mapping"); err != nil {
			return nil, err
		}
		for k, v := range extra {
			args[k] = v
		}
	}
	l.dropNoOpArgs(file, modKey, spec, args)
	t.Args = args
	if err := l.checkAsync(file, asyncNode, t); err != nil {
		return nil, err
	}
	if err := l.validateTask(t, modKey); err != nil {
		return nil, err
	}
	return t, nil
}

// dropNoOpArgs removes arguments older Ansible accepted that change nothing
// on the host, with a warning. command/shell's warn only silenced Ansible's
// own "consider using a module" hint and ansible-core 2.14 removed it;
// refusing it would stop whole roles (zabbix_agent) at load for a flag that
// never did anything to the host. ansible-core's script is an action plugin
// that reads the arguments it knows and never checks for others, so a
// keyword written among them (zabbix_server: args: {creates: ..., become:
// true}) is ignored there, not applied as the keyword.
func (l *Loader) dropNoOpArgs(file string, at *yaml.Node, spec *modules.Spec, args map[string]any) {
	switch spec.Name {
	case "command", "shell":
		if _, ok := args["warn"]; !ok {
			return
		}
		delete(args, "warn")
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d: %s: argument warn has no effect (removed in ansible-core 2.14); ignored", file, at.Line, spec.Name))
	case "script":
		for _, k := range slices.Sorted(maps.Keys(args)) {
			if spec.Takes(k) {
				continue
			}
			delete(args, k)
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d: script: argument %s is not one of script's; ignored, as ansible-core's script ignores it", file, at.Line, k))
		}
	}
}

// actionModule reads Ansible's action: forms, which name the module inside
// the value: "copy src=a dest=b" or {module: copy, src: a, dest: b}. It
// returns a key node naming the module (at the value's line, for errors)
// and the arguments node, as if the task had been written "copy: ...".
func (l *Loader) actionModule(file string, k, v *yaml.Node) (key, args *yaml.Node, err error) {
	switch v.Kind {
	case yaml.ScalarNode:
		name, rest, _ := strings.Cut(strings.TrimSpace(v.Value), " ")
		if name == "" {
			return nil, nil, l.errf(file, v, "%s: names no module", k.Value)
		}
		key = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Line: v.Line, Column: v.Column}
		return key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimSpace(rest), Line: v.Line, Column: v.Column}, nil
	case yaml.MappingNode:
		args = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == "module" {
				key = v.Content[i+1]
				continue
			}
			args.Content = append(args.Content, v.Content[i], v.Content[i+1])
		}
		if key == nil || key.Kind != yaml.ScalarNode || key.Value == "" {
			return nil, nil, l.errf(file, v, "%s: a mapping needs module: naming the module", k.Value)
		}
		return key, args, nil
	}
	return nil, nil, l.errf(file, v, "%s: expected \"module args\" or a mapping with module:, got %s", k.Value, kindName(v))
}

// keyword maps the FQCN spellings of include and import keywords
// (ansible.builtin.include_tasks) onto the keyword.
func keyword(k string) string {
	if lk, ok := strings.CutPrefix(k, "with_"); ok {
		return "with_" + withLookup(lk) // with_community.general.flattened is with_flattened
	}
	for _, p := range modules.Collections {
		if rest, ok := strings.CutPrefix(k, p); ok {
			switch rest {
			case "include_tasks", "import_tasks", "include_role", "import_role":
				return rest
			}
		}
	}
	return k
}

func isKnownModule(name string) bool {
	_, err := modules.Resolve(name)
	return err == nil
}

// moduleArgs accepts a mapping or Ansible's "key=value" string form.
func (l *Loader) moduleArgs(file string, spec *modules.Spec, n *yaml.Node) (map[string]any, error) {
	name := spec.Name
	switch n.Kind {
	case yaml.MappingNode:
		var args map[string]any
		if err := n.Decode(&args); err != nil {
			return nil, l.errf(file, n, "arguments of %s: %v", name, err)
		}
		if args == nil {
			args = map[string]any{}
		}
		return args, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return map[string]any{}, nil
		}
		return spec.ParseKV(n.Value), nil
	}
	return nil, l.errf(file, n, "arguments of %s must be a mapping or key=value string, got %s", name, kindName(n))
}

// validateTask checks what can be checked before any host is known:
// argument names always; values and the module's own Validate when no
// argument depends on a template; expression syntax of conditions.
func (l *Loader) validateTask(t *Task, at *yaml.Node) error {
	wrap := func(err error) error {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, t.Where(), err)
	}
	if err := t.Spec.CheckKeys(t.Args); err != nil {
		return wrap(err)
	}
	if !hasTemplate(t.Args) {
		if _, _, err := t.Spec.Build(t.Args); err != nil {
			return wrap(err)
		}
	}
	// Templates in arguments cannot be evaluated yet, but their syntax can.
	var walkErr error
	walkStrings(t.Args, func(s string) {
		if walkErr == nil && template.IsTemplate(s) {
			if _, err := l.tpl.RenderString(s, map[string]any{}); err != nil && !errors.Is(err, template.ErrUndefined) && isSyntaxErr(err) {
				walkErr = fmt.Errorf("template %q: %v", s, err)
			}
		}
	})
	if walkErr != nil {
		return wrap(walkErr)
	}
	for _, group := range [][]string{t.When, t.ChangedWhen, t.FailedWhen, t.Until} {
		for _, expr := range group {
			if err := syntaxCheck(l.tpl, expr); err != nil {
				return wrap(err)
			}
		}
	}
	return l.unknownPlugins(t) // unknown.go
}

func hasTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return template.IsTemplate(x)
	case map[string]any:
		for _, val := range x {
			if hasTemplate(val) {
				return true
			}
		}
	case []any:
		for _, val := range x {
			if hasTemplate(val) {
				return true
			}
		}
	}
	return false
}

// syntaxCheck parses a condition without evaluating it: variables are not
// known yet, so only syntax errors count here.
func syntaxCheck(e *template.Engine, expr string) error {
	_, err := e.Eval(expr, map[string]any{})
	if err == nil || errors.Is(err, template.ErrUndefined) {
		return nil
	}
	if isSyntaxErr(err) || strings.Contains(err.Error(), "expression") {
		return fmt.Errorf("condition %q: %v", expr, err)
	}
	return nil
}

func isSyntaxErr(err error) bool {
	m := err.Error()
	return strings.Contains(m, "template syntax") || strings.Contains(m, "failed to parse") || strings.Contains(m, "Unbalanced")
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, val := range x {
			walkStrings(val, fn)
		}
	case []any:
		for _, val := range x {
			walkStrings(val, fn)
		}
	}
}

// taskConnection reads a task's connection: local runs the task on the
// controller, as delegate_to: localhost does (kubespray's download and
// kubectl tasks); ssh and its plugins are what gpuctl does anyway.
func (l *Loader) taskConnection(file string, v *yaml.Node, t *Task) error {
	c, err := l.str(file, v)
	if err != nil {
		return err
	}
	switch strings.TrimPrefix(strings.TrimPrefix(c, "ansible.builtin."), "ansible.legacy.") {
	case "local":
		if t.DelegateTo == "" {
			t.DelegateTo = "localhost"
		}
	case "ssh", "smart", "paramiko", "paramiko_ssh":
	default:
		return l.errf(file, v, "connection %q: gpuctl connects over SSH, or locally with connection: local", c)
	}
	return nil
}

// loopControl reads loop_control: loop_var, index_var, label, pause,
// extended and extended_allitems, as ansible-core's LoopControl; any other
// key is a load error.
func (l *Loader) loopControl(file string, n *yaml.Node, t *Task) error {
	if n.Kind != yaml.MappingNode {
		return l.errf(file, n, "loop_control must be a mapping, got %s", kindName(n))
	}
	t.LoopControl.AllItems = true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "loop_var":
			t.LoopVar, err = l.str(file, v)
		case "index_var":
			t.LoopControl.IndexVar, err = l.str(file, v)
		case "label":
			t.LoopControl.Label, err = l.str(file, v)
		case "extended":
			t.LoopControl.Extended, err = l.boolVal(file, v)
		case "extended_allitems":
			t.LoopControl.AllItems, err = l.boolVal(file, v)
		case "pause":
			if err = v.Decode(&t.LoopControl.Pause); err != nil || t.LoopControl.Pause < 0 {
				err = l.errf(file, v, "loop_control pause: expected a number of seconds, got %q", v.Value)
			}
		default:
			err = l.errf(file, k, "unknown loop_control key %q%s", k.Value, suggestFrom(k.Value, []string{"loop_var", "index_var", "label", "pause", "extended", "extended_allitems"}))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
