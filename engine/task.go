package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// scope is what a block or include passes down to the tasks inside it.
type scope struct {
	tags        []string
	when        []string
	whenRefs    [][]string // the variables each of when reads
	become      *bool
	diff        *bool // the diff keyword of enclosing blocks and roles
	becomeUser  string
	vars        map[string]any // block vars, import_tasks vars, a role entry's vars:
	params      map[string]any // include_tasks/include_role vars and loop item: above set_fact
	environment []any          // play → block → role layers, merged by withEnvironment
	// module_defaults of enclosing blocks and roles, outermost first
	// (moduledefaults.go)
	moduleDefaults []any
	roles          []*playbooks.Role // enclosing roles, outermost first
	fleet          fleetScope        // throttle and any_errors_fatal of enclosing blocks
	keywords       map[string]string // inherited keywords, rendered per task (keywords.go)
}

func (s *scope) child(t *playbooks.Task) *scope {
	out := &scope{}
	if s != nil {
		*out = *s
		out.tags = slices.Clone(s.tags)
		out.when = slices.Clone(s.when)
		out.whenRefs = slices.Clone(s.whenRefs)
		out.vars = maps.Clone(s.vars)
		out.params = maps.Clone(s.params)
	}
	out.enter(t)           // roles.go: role and environment layers
	out.inheritKeywords(t) // keywords.go
	out.tags = append(out.tags, t.Tags...)
	out.when = append(out.when, t.When...)
	for i := range t.When {
		var refs []string
		if i < len(t.Refs.When) {
			refs = t.Refs.When[i]
		}
		out.whenRefs = append(out.whenRefs, refs)
	}
	if t.Become != nil {
		out.become = t.Become
	}
	if t.Diff != nil {
		out.diff = t.Diff
	}
	if t.BecomeUser != "" {
		out.becomeUser = t.BecomeUser
	}
	if len(t.Vars) > 0 && t.Dynamic {
		out.params = with(out.params, t.Vars)
	} else if len(t.Vars) > 0 {
		out.vars = with(out.vars, t.Vars)
	}
	return out
}

// with copies add into m, making m if it is nil.
func with(m, add map[string]any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	maps.Copy(m, add)
	return m
}

// runTask runs one task (or block, or include) on one host. It returns an
// error only when the host must stop: a failure not ignored or rescued.
func (e *Engine) runTask(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, notified map[string]bool) error {
	if err := e.endedErr(); err != nil { // meta.go: another host ended the play
		return err
	}
	switch {
	case t.Block != nil:
		return e.runBlock(ctx, play, r, t, sc, notified)
	case t.Include != nil:
		return e.runInclude(ctx, play, r, t, sc, notified) // include.go
	}
	if !e.tagsSelected(play, sc, t) {
		return nil
	}
	if err := e.loadVarsFiles(play, r, sc, t); err != nil { // varsfiles.go
		return e.fail(play, r, t, nil, err)
	}
	turn, err := e.step(ctx, r, t, sc) // step.go: strategy, run_once, throttle, forks
	if err != nil {
		return stepErr(r, t, err)
	}
	defer turn.release()
	if turn.follow != nil {
		if turn.bypass { // add_host: only the first host runs and registers it
			return e.followBypass(play, r, t, turn.follow)
		}
		return e.followOnce(play, r, t, turn.follow, notified) // once.go
	}
	res, err := e.runLeaf(ctx, play, r, t, sc, notified)
	if turn.lead != nil {
		turn.lead.publish(r, t, res, err)
	}
	return err
}

// runLeaf runs a task that is neither a block nor an include, once or per
// loop item, and returns its registered result.
func (e *Engine) runLeaf(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, notified map[string]bool) (map[string]any, error) {
	tr := e.newTaskRun(play, r, t, sc, e.taskVars(play, r, sc, t), notified)
	items, err := e.loopItems(t, tr.vars)
	if err != nil && e.opt.Check {
		// A loop over a result only known after apply (a command's
		// stdout_lines under --check) is itself known after apply.
		if why := e.pendingRef(r, t.Refs.Args); why != "" {
			return tr.record(*tr.unknown(why))
		}
	}
	if err != nil {
		// ansible-core (TaskExecutor.run) keeps an undefined loop's error,
		// decides when first, and raises the error only for a task that
		// runs: a loop over a variable a false when guards is skipped.
		if errors.Is(err, template.ErrUndefined) {
			if o := tr.decide(); o != nil && o.status == StatusSkipped {
				return tr.record(*o)
			}
		}
		return nil, e.fail(play, r, t, nil, err)
	}
	if items == nil {
		return tr.run(ctx)
	}
	loopVar := t.LoopVar
	if loopVar == "" {
		loopVar = "item"
	}
	agg := map[string]any{"changed": false, "failed": false, "skipped": true}
	var results []any
	var firstErr error
	for i, item := range items {
		if err := loopPause(ctx, t, i); err != nil { // loopcontrol.go
			return nil, err
		}
		iv := maps.Clone(tr.vars)
		iv[loopVar] = item
		loopItemVars(t, iv, loopVar, i, items)
		res, err := tr.forItem(iv, item).run(ctx)
		res[loopVar] = item
		res["ansible_loop_var"] = loopVar
		if t.LoopControl.IndexVar != "" {
			res[t.LoopControl.IndexVar], res["ansible_index_var"] = i, t.LoopControl.IndexVar
		}
		if t.LoopControl.Extended {
			res["ansible_loop"] = iv["ansible_loop"]
		}
		results = append(results, res)
		for _, k := range []string{"changed", "failed"} {
			if template.Truthy(res[k]) {
				agg[k] = true
			}
		}
		if !template.Truthy(res["skipped"]) {
			agg["skipped"] = false
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if errors.Is(err, context.Canceled) || r.unreachable {
			break
		}
	}
	agg["results"] = results
	e.register(r, t, agg)
	return agg, firstErr
}

func (e *Engine) runBlock(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, notified map[string]bool) error {
	inner := sc.child(t)
	var blockErr error
	for _, sub := range t.Block {
		if blockErr = e.runTask(ctx, play, r, sub, inner, notified); blockErr != nil {
			break
		}
	}
	if blockErr != nil && !isEnded(blockErr) && len(t.Rescue) > 0 && !r.unreachable && ctx.Err() == nil {
		r.setVar("ansible_failed_result", map[string]any{"msg": blockErr.Error()})
		rescueErr := error(nil)
		for _, sub := range t.Rescue {
			if rescueErr = e.runTask(ctx, play, r, sub, inner, notified); rescueErr != nil {
				break
			}
		}
		if rescueErr == nil {
			r.counts.rescue()
		}
		blockErr = rescueErr
	}
	for _, sub := range t.Always {
		if err := e.runTask(ctx, play, r, sub, inner, notified); err != nil && blockErr == nil {
			blockErr = err
		}
	}
	return blockErr
}

func (e *Engine) tagsSelected(play *playbooks.Play, sc *scope, t *playbooks.Task) bool {
	tags := slices.Concat(play.Tags, t.Tags)
	if sc != nil {
		tags = slices.Concat(tags, sc.tags)
	}
	has := func(set []string, tag string) bool { return slices.Contains(set, tag) }
	for _, skip := range e.opt.SkipTags {
		if has(tags, skip) {
			return false
		}
	}
	if len(e.opt.Tags) == 0 {
		return !has(tags, "never")
	}
	if has(tags, "always") {
		return true
	}
	for _, want := range e.opt.Tags {
		if want == "all" && !has(tags, "never") {
			return true
		}
		if want == "tagged" && len(tags) > 0 {
			return true
		}
		if want == "untagged" && len(tags) == 0 {
			return true
		}
		if has(tags, want) {
			return true
		}
	}
	return false
}

// taskVars merges variables by Ansible's precedence, lowest first: role
// defaults (the play's roles', then the task's own), inventory, facts, play
// vars, vars_files, role vars (the play's, then the task's own), block and
// task vars, include_vars/set_fact/registered values, role params, include
// params, extra vars; then the magic variables.
func (e *Engine) taskVars(play *playbooks.Play, r *hostRun, sc *scope, t *playbooks.Task) map[string]any {
	defaults, roleVars, params := roleLayers(sc)
	publicDefaults, publicVars := r.publicOf(play) // roles.go
	vars := maps.Clone(play.RoleDefaults)
	if vars == nil {
		vars = map[string]any{}
	}
	maps.Copy(vars, publicDefaults)
	maps.Copy(vars, defaults)
	inv := e.invHost(r) // inventory.go: group_by and add_host change it
	maps.Copy(vars, inv.Vars)
	r.mu.Lock()
	vars["ansible_facts"] = map[string]any(r.facts)
	maps.Copy(vars, r.facts)
	r.mu.Unlock()
	maps.Copy(vars, play.Vars)
	maps.Copy(vars, r.varsFilesOf(play)) // varsfiles.go
	maps.Copy(vars, play.RoleVars)
	maps.Copy(vars, publicVars)
	maps.Copy(vars, roleVars)
	if sc != nil {
		maps.Copy(vars, sc.vars)
	}
	maps.Copy(vars, t.Vars)
	r.mu.Lock()
	maps.Copy(vars, r.runtime)
	r.mu.Unlock()
	maps.Copy(vars, params)
	if sc != nil {
		maps.Copy(vars, sc.params)
	}
	maps.Copy(vars, e.opt.ExtraVars)
	roleMagic(vars, sc)
	vars["inventory_hostname"] = r.inv.Name
	vars["inventory_hostname_short"], _, _ = strings.Cut(r.inv.Name, ".")
	groupNames := slices.DeleteFunc(slices.Clone(inv.Groups), func(g string) bool { return g == "all" })
	slices.Sort(groupNames) // as ansible-core's Host.get_magic_vars
	vars["group_names"] = groupNames
	vars["groups"] = e.groupsVariable()
	vars["ansible_check_mode"] = e.opt.Check
	e.magicVars(vars, play) // magic.go
	if readsHostvars(t, sc) || varsReadHostvars(vars) {
		vars["hostvars"] = e.hostvars()
	}
	// Variables may be templates over other variables; resolve a few levels
	// deep as Ansible's lazy evaluation would.
	for range 3 {
		changed := false
		for k, v := range vars {
			if s, ok := v.(string); ok && template.IsTemplate(s) {
				if out, err := e.tpl.Render(s, vars); err == nil {
					vars[k] = out
					changed = true
				}
			} else if nestedTemplate(k, v) {
				// a role parameter such as debian: {url: "{{ repo }}k.asc"}
				if out, err := e.tpl.RenderValue(v, vars); err == nil {
					vars[k] = out
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	return vars
}

// nestedTemplate reports a dictionary or list variable holding a template
// at any depth. Facts and inventory structures never do and are skipped,
// as they are the large ones.
func nestedTemplate(k string, v any) bool {
	if strings.HasPrefix(k, "ansible_") || k == "hostvars" || k == "groups" {
		return false
	}
	switch x := v.(type) {
	case string:
		return template.IsTemplate(x)
	case map[string]any:
		for _, e := range x {
			if nestedTemplate("", e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if nestedTemplate("", e) {
				return true
			}
		}
	}
	return false
}

// groupsVariable is Ansible's `groups`, made once per inventory generation:
// at 200 hosts, making it for every task-host was a fifth of gpuctl's CPU
// on an idempotent re-run. Templates only read it.
func (e *Engine) groupsVariable() map[string]any {
	g, gen := e.inv.GroupsGen()
	e.groupsMu.Lock()
	defer e.groupsMu.Unlock()
	if e.groupsVar == nil || e.groupsGen != gen {
		e.groupsVar, e.groupsGen = groupsVar(g), gen
	}
	return e.groupsVar
}

func groupsVar(g map[string][]string) map[string]any {
	out := make(map[string]any, len(g))
	for k, v := range g {
		l := make([]any, len(v))
		for i, s := range v {
			l[i] = s
		}
		out[k] = l
	}
	return out
}

func playbookDir(play *playbooks.Play) string {
	f := play.Pos.File
	if i := strings.LastIndex(f, "/"); i >= 0 {
		return f[:i]
	}
	return "."
}

// readsHostvars reports whether the task's templates read hostvars, which
// is costly to build: a snapshot of every host's variables.
// varsReadHostvars reports a variable whose template reads hostvars (block
// vars, role defaults: community.sops's `{{ hostvars[...].ansible_facts }}`):
// it is resolved below only if hostvars is there.
func varsReadHostvars(vars map[string]any) bool {
	for _, v := range vars {
		if s, ok := v.(string); ok && strings.Contains(s, "hostvars") && template.IsTemplate(s) {
			return true
		}
	}
	return false
}

func readsHostvars(t *playbooks.Task, sc *scope) bool {
	if slices.Contains(t.Refs.Roots(), "hostvars") {
		return true
	}
	if sc != nil {
		for _, refs := range sc.whenRefs {
			for _, p := range refs {
				if p == "hostvars" || strings.HasPrefix(p, "hostvars.") {
					return true
				}
			}
		}
	}
	return false
}

func (e *Engine) loopItems(t *playbooks.Task, vars map[string]any) ([]any, error) {
	if t.Loop == nil {
		return nil, nil
	}
	if t.LoopWith != "" {
		items, err := e.withLoop(t, vars) // loops.go
		if items == nil && err == nil {
			// a with_ lookup that found nothing loops zero times; nil
			// would mean "no loop" and run the task once without item
			items = []any{}
		}
		return items, err
	}
	v, err := e.tpl.RenderValue(t.Loop, vars)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	switch x := v.(type) {
	case []any:
		if x == nil {
			return []any{}, nil
		}
		return x, nil
	case string:
		if x == "" {
			return []any{}, nil
		}
	}
	return nil, fmt.Errorf("loop: expected a list, got %T", v)
}

// register stores a task's result under its register name.
func (e *Engine) register(r *hostRun, t *playbooks.Task, res map[string]any) {
	if t.Register == "" || res == nil {
		return
	}
	r.setVar(t.Register, res)
}

// hostErr wraps a task failure for the run's error, hiding its text for
// no_log tasks while keeping the chain for errors.Is.
func (e *Engine) hostErr(r *hostRun, t *playbooks.Task, err error) *HostError {
	re := redactErr{err: err, e: e}
	if t.NoLog {
		re.hidden = true
	}
	return &HostError{Host: r.inv.Name, Task: t.Title(), Pos: t.Pos.String(), Err: re}
}

// redactErr keeps the chain for errors.Is while masking secrets in text.
type redactErr struct {
	err    error
	e      *Engine
	hidden bool
}

func (r redactErr) Error() string {
	if r.hidden {
		return "failed (output hidden: no_log is set)"
	}
	return r.e.redact(r.err.Error())
}
func (r redactErr) Unwrap() error { return r.err }

func (e *Engine) emitResult(play *playbooks.Play, t *playbooks.Task, host string, st Status, msg string, d *plan.Diff, dur time.Duration, item any) {
	e.emitResultDiff(play, t, host, st, msg, d, dur, item, false)
}

// emitResultDiff is emitResult for a task whose diff keyword asks for its
// diff whatever --diff says (showDiff).
func (e *Engine) emitResultDiff(play *playbooks.Play, t *playbooks.Task, host string, st Status, msg string, d *plan.Diff, dur time.Duration, item any, showDiff bool) {
	// Every message and item leaves the process through here, so this is
	// the one place that masks them.
	msg, item = e.redact(msg), e.redactValue(item)
	ev := Event{Type: EventTaskResult, Time: time.Now(), Host: host, Status: st, Msg: msg, Duration: dur, Item: item, Check: e.opt.Check, ShowDiff: showDiff}
	if play != nil {
		ev.Play = play.Name
	}
	if t != nil {
		ev.Task, ev.Module, ev.Pos = t.Title(), t.Module, t.Pos.String()
	}
	if t != nil && t.NoLog {
		// no_log hides everything a task's output could leak: message,
		// diff, loop item.
		if msg != "" {
			msg = "(output hidden: no_log is set)"
		}
		ev.Msg, ev.Item, d = msg, nil, nil
	}
	if d != nil && (e.opt.Diff || d.Unknown != "" || ev.ShowDiff) {
		masked := d.Masked(e.secrets.Values())
		ev.Diff = &masked
	}
	e.opt.Reporter.Event(ev)
}

// connFor picks the transport for a task: delegation and become.
func (e *Engine) connFor(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, vars map[string]any) (conn.Conn, error) {
	c := r.base
	if t.DelegateTo != "" {
		target, err := e.tpl.RenderString(t.DelegateTo, vars)
		if err != nil {
			return nil, fmt.Errorf("delegate_to: %w", err)
		}
		if c, err = e.delegateConn(ctx, play, r, target); err != nil { // delegate.go
			return nil, err
		}
	}
	// ansible-core's PlayContext: a variable (ansible_become,
	// ansible_become_user; from the inventory or any vars) overrides the
	// become and become_user keywords of play, block and task, which
	// override -b and --become-user.
	become := play.Become
	if sc != nil && sc.become != nil {
		become = sc.become
	}
	if t.Become != nil {
		become = t.Become
	}
	if b, ok := vars["ansible_become"]; ok {
		v := template.Truthy(b)
		become = &v
	}
	if become == nil && e.opt.DefaultBecome { // -b
		yes := true
		become = &yes
	}
	if become == nil || !*become || e.opt.Become == nil {
		return c, nil
	}
	user := firstNonEmpty(str(vars["ansible_become_user"]), t.BecomeUser, scopeUser(sc), play.BecomeUser, e.opt.DefaultBecomeUser, "root")
	pw := firstNonEmpty(str(vars["ansible_become_password"]), str(vars["ansible_become_pass"]), str(vars["gpuctl_become_password"]), e.opt.BecomePassword)
	e.addSecret(pw)
	return e.opt.Become(c, user, pw), nil
}

func scopeUser(sc *scope) string {
	if sc == nil {
		return ""
	}
	return sc.becomeUser
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
